/**
 * Walks a TF.js graph model and emits the ONNX graph: its one Placeholder as an NHWC input with a dynamic batch,
 * Const nodes from the weights manifest, one converter per op, and outputs in TF's layout under their TF names.
 */
import { GraphBuilder } from '../graph-builder.ts';
import type { WeightTensor } from '../weights.ts';
import { GraphOpError, NodeAttrs, tensorKey } from './graph-model.ts';
import type { TfGraph, TfNode } from './graph-model.ts';
import { identityPerm, toPlain } from './layout.ts';
import type { Operand, Tensor } from './layout.ts';
import { opContext } from './op-context.ts';
import { opConverterFor } from './ops.ts';

export interface BuiltGraphModel {
  graph: GraphBuilder;
  inputName: string;
  outputNames: string[];
}

const BATCH_DIM = 'N';

/** The placeholder's shape with unknown sizes after the batch taken from `inputShape` (the metadata's H, W, C). */
function inputShapeOf(placeholder: TfNode, inputShape: number[] | undefined): number[] {
  const attrs = new NodeAttrs(placeholder);
  attrs.requireFloat('dtype');
  const declared = attrs.shape('shape') ?? (inputShape && [-1, ...inputShape]);
  if (!declared) throw new GraphOpError(placeholder, 'the input has an unknown rank and no metadata gives its shape');
  return declared.map((d, axis) => {
    if (axis === 0 || d >= 0) return d;
    const given = inputShape?.[axis - 1];
    if (given === undefined)
      throw new GraphOpError(placeholder, `dimension ${axis} of the input [${declared}] is unknown`);
    return given;
  });
}

function constantOf(name: string, weights: Map<string, WeightTensor>): Operand {
  const w = weights.get(name);
  if (!w) throw new GraphOpError({ name, op: 'Const' }, 'the constant has no entry in the weights manifest');
  return { kind: 'const', name, data: w.data, shape: w.shape };
}

export function buildGraphModelOnnx(
  model: TfGraph,
  weights: Map<string, WeightTensor>,
  inputShape?: number[],
): BuiltGraphModel {
  if (model.placeholders.length !== 1)
    throw new Error(`the graph has ${model.placeholders.length} inputs; the converter handles exactly one`);
  const placeholder = model.placeholders[0]!;
  const graph = new GraphBuilder();
  const shape = inputShapeOf(placeholder, inputShape);
  graph.addInput({ name: placeholder.name, dims: shape.map((d, i) => (d >= 0 ? d : i === 0 ? BATCH_DIM : `d${i}`)) });
  const outputNames = model.outputs.map((o) => graph.reserveName(o));

  const values = new Map<string, Operand>();
  values.set(placeholder.name, { kind: 'tensor', name: placeholder.name, shape, perm: identityPerm(shape.length) });
  for (const name of model.consts) values.set(name, constantOf(name, weights));
  const operand = (node: TfNode, input: string): Operand => {
    const found = values.get(tensorKey(input));
    if (!found) throw new GraphOpError(node, `reads ${input}: only the first output of an op is supported`);
    return found;
  };

  for (const node of model.ops) {
    const convert = opConverterFor(node);
    const inputs = node.inputs.map((input) => operand(node, input));
    try {
      values.set(node.name, convert(opContext(graph, node, inputs)));
    } catch (err) {
      if (err instanceof GraphOpError) throw err;
      throw new GraphOpError(node, (err as Error).message);
    }
  }

  model.outputs.forEach((key, i) => {
    const value = values.get(key);
    if (value?.kind !== 'tensor') throw new Error(`model output ${key} is not computed by any op`);
    const name = outputNames[i]!;
    const plain: Tensor = toPlain(graph, value);
    graph.addIdentity(plain.name, name);
    graph.addOutput({ name, dims: plain.shape.map((d, a) => (d >= 0 ? d : a === 0 ? BATCH_DIM : `${name}_d${a}`)) });
  });
  return { graph, inputName: placeholder.name, outputNames };
}
