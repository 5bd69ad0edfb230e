/**
 * Walks a parsed Keras call graph and emits the ONNX graph: NHWC graph input with a dynamic batch, one Transpose
 * to NCHW, one converter per layer call, and outputs in Keras layout.
 */
import { GraphBuilder, attrInts } from './graph-builder.ts';
import { refKey } from './keras-model.ts';
import type { KerasGraph, LayerCall } from './keras-model.ts';
import { converterFor } from './layers.ts';
import { toChannelsLast } from './spatial.ts';
import { LayerConversionError } from './types.ts';
import type { FoldTarget, TensorValue } from './types.ts';
import { weightsOfLayer } from './weights.ts';
import type { WeightTensor } from './weights.ts';

export interface BuiltGraph {
  graph: GraphBuilder;
  inputName: string;
  outputNames: string[];
}

const BATCH_DIM = 'N';

/** How many calls and model outputs read each tensor; a BatchNorm folds only into a Conv that it alone reads. */
function countConsumers(model: KerasGraph): Map<string, number> {
  const counts = new Map<string, number>();
  const bump = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const call of model.calls) for (const ref of call.inputs) bump(refKey(ref));
  for (const ref of model.outputs) bump(refKey(ref));
  return counts;
}

/** Calls ordered so every input is produced first (configs are usually already topological). */
function topologicalOrder(model: KerasGraph): LayerCall[] {
  const ready = new Set([refKey(model.input.ref)]);
  const pending = [...model.calls];
  const ordered: LayerCall[] = [];
  while (pending.length) {
    const index = pending.findIndex((c) => c.inputs.every((r) => ready.has(refKey(r))));
    if (index < 0) {
      const stuck = pending[0]!;
      const missing = stuck.inputs.filter((r) => !ready.has(refKey(r))).map((r) => r.layer);
      throw new Error(
        `layer "${stuck.layer.name}" reads ${missing.join(', ')}, which nothing produces from the model input`,
      );
    }
    const [call] = pending.splice(index, 1);
    ordered.push(call!);
    ready.add(refKey({ layer: call!.layer.name, node: call!.node, tensor: 0 }));
  }
  return ordered;
}

export function buildOnnxGraph(model: KerasGraph, weights: Map<string, WeightTensor>): BuiltGraph {
  const graph = new GraphBuilder();
  const inputName = model.input.layer.name;
  const shape = model.input.shape;
  graph.addInput({ name: inputName, dims: [BATCH_DIM, ...shape] });
  // The one layout change on the way in: images arrive NHWC, convolutions run NCHW.
  const entry =
    shape.length === 3
      ? graph.addNode('Transpose', [inputName], `${inputName}/to_nchw`, { perm: attrInts([0, 3, 1, 2]) })
      : inputName;

  // Claimed up front so the outputs keep their Keras layer names even though nodes are named after layers too.
  const outputNames = model.outputs.map((ref) => graph.reserveName(ref.layer));
  const values = new Map<string, TensorValue>([[refKey(model.input.ref), { name: entry, shape }]]);
  const consumers = countConsumers(model);
  const foldTargets = new Map<string, FoldTarget>();

  for (const call of topologicalOrder(model)) {
    const convert = converterFor(call.layer);
    const inputs = call.inputs.map((r) => values.get(refKey(r))!);
    if (call.inputs.some((r) => r.tensor !== 0))
      throw new LayerConversionError(call.layer, 'multi-output inputs are not supported');
    const output = convert({
      graph,
      layer: call.layer,
      inputs,
      weights: weightsOfLayer(weights, call.layer.name),
      inputConsumers: call.inputs.map((r) => consumers.get(refKey(r)) ?? 0),
      foldTargets,
    });
    // A pass-through layer (Dropout) makes its input visible under a second Keras name: no longer exclusively owned.
    if (inputs.some((v) => v.name === output.name)) foldTargets.delete(output.name);
    values.set(refKey({ layer: call.layer.name, node: call.node, tensor: 0 }), output);
  }

  model.outputs.forEach((ref, i) => {
    const value = values.get(refKey(ref));
    if (!value) throw new Error(`model output ${ref.layer} is never produced`);
    const name = outputNames[i]!;
    graph.addIdentity(toChannelsLast(graph, value, name), name);
    graph.addOutput({ name, dims: [BATCH_DIM, ...value.shape] });
  });
  return { graph, inputName, outputNames };
}
