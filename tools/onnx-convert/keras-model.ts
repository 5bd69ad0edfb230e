/**
 * Parses a Keras model topology (as found in a TF.js layers model.json) into one uniform call graph, whether the
 * model is Sequential or functional (`Model`/`Functional`, Keras 2 list or Keras 3 dict inbound nodes).
 */
import type { KerasLayerSpec } from './types.ts';

/** One output tensor of one call of a layer: Keras's (layer name, node index, tensor index). */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

/** One application of a layer to its inputs; a shared layer has several calls with increasing node indices. */
export interface LayerCall {
  layer: KerasLayerSpec;
  node: number;
  inputs: TensorRef[];
}

export interface KerasGraph {
  name: string;
  input: { layer: KerasLayerSpec; ref: TensorRef; shape: number[] };
  /** Every layer call except the input layer, in config order (usually, not necessarily, topological). */
  calls: LayerCall[];
  outputs: TensorRef[];
}

type Json = Record<string, unknown>;

export const refKey = (ref: TensorRef): string => `${ref.layer}#${ref.node}#${ref.tensor}`;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function layerSpec(raw: unknown): KerasLayerSpec {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) {
    throw new Error(`model.json: malformed layer entry ${JSON.stringify(raw).slice(0, 200)}`);
  }
  const name = typeof raw.name === 'string' ? raw.name : raw.config.name;
  if (typeof name !== 'string') throw new Error(`model.json: a ${raw.class_name} layer has no name`);
  return { name, className: raw.class_name, config: raw.config };
}

/** The batch-less input shape of an InputLayer (or of a Sequential model's first layer). */
function batchlessShape(layer: KerasLayerSpec): number[] {
  const shape = layer.config.batch_input_shape ?? layer.config.batch_shape;
  if (!Array.isArray(shape)) throw new Error(`input layer "${layer.name}" has no batch_input_shape`);
  const dims = shape.slice(1);
  if (!dims.every((d): d is number => typeof d === 'number' && d > 0)) {
    throw new Error(
      `input layer "${layer.name}" has shape [${shape.map(String)}]; the converter needs static dimensions after the batch`,
    );
  }
  return dims;
}

function refFromTuple(raw: unknown): TensorRef {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string')
    throw new Error(`model.json: malformed inbound tensor ${JSON.stringify(raw)}`);
  return { layer: raw[0], node: Number(raw[1] ?? 0), tensor: Number(raw[2] ?? 0) };
}

/** Keras 3 nodes hold `{args, kwargs}` with `__keras_tensor__` objects carrying a keras_history tuple. */
function collectKerasTensors(value: unknown, out: TensorRef[]): void {
  if (Array.isArray(value)) {
    for (const v of value) collectKerasTensors(v, out);
  } else if (isObject(value)) {
    if (value.class_name === '__keras_tensor__' && isObject(value.config))
      out.push(refFromTuple(value.config.keras_history));
    else for (const v of Object.values(value)) collectKerasTensors(v, out);
  }
}

function nodeInputs(node: unknown): TensorRef[] {
  if (isObject(node)) {
    const refs: TensorRef[] = [];
    collectKerasTensors(node.args, refs);
    return refs;
  }
  if (!Array.isArray(node)) throw new Error(`model.json: malformed inbound node ${JSON.stringify(node)}`);
  return node.map(refFromTuple);
}

/** A list of tensor tuples; Keras 3 writes a single input/output as a bare tuple rather than a list of one. */
function refList(raw: unknown): TensorRef[] {
  if (!Array.isArray(raw)) return [];
  return typeof raw[0] === 'string' ? [refFromTuple(raw)] : raw.map(refFromTuple);
}

function parseSequential(config: unknown): KerasGraph {
  const rawLayers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(rawLayers) || rawLayers.length === 0)
    throw new Error('model.json: Sequential model without layers');
  const layers = rawLayers.map(layerSpec);
  const name = isObject(config) && typeof config.name === 'string' ? config.name : 'sequential';
  let inputLayer = layers[0]!;
  if (inputLayer.className === 'InputLayer') layers.shift();
  else
    inputLayer = {
      name: `${inputLayer.name}_input`,
      className: 'InputLayer',
      config: { batch_input_shape: inputLayer.config.batch_input_shape ?? inputLayer.config.batch_shape },
    };
  const inputRef = { layer: inputLayer.name, node: 0, tensor: 0 };
  const calls = layers.map((layer, i) => ({
    layer,
    node: 0,
    inputs: [i === 0 ? inputRef : { layer: layers[i - 1]!.name, node: 0, tensor: 0 }],
  }));
  const last = calls.length ? { layer: layers[layers.length - 1]!.name, node: 0, tensor: 0 } : inputRef;
  return {
    name,
    input: { layer: inputLayer, ref: inputRef, shape: batchlessShape(inputLayer) },
    calls,
    outputs: [last],
  };
}

function parseFunctional(config: Json): KerasGraph {
  if (!Array.isArray(config.layers)) throw new Error('model.json: functional model without layers');
  const calls: LayerCall[] = [];
  const inputLayers: KerasLayerSpec[] = [];
  for (const raw of config.layers) {
    const layer = layerSpec(raw);
    if (layer.className === 'InputLayer') {
      inputLayers.push(layer);
      continue;
    }
    const nodes = isObject(raw) && Array.isArray(raw.inbound_nodes) ? raw.inbound_nodes : [];
    nodes.forEach((node, index) => calls.push({ layer, node: index, inputs: nodeInputs(node) }));
  }
  const inputsRaw = refList(config.input_layers);
  const outputs = refList(config.output_layers);
  if (inputsRaw.length !== 1)
    throw new Error(`the converter supports models with exactly one input, this one has ${inputsRaw.length}`);
  if (outputs.length === 0) throw new Error('model.json: functional model without output_layers');
  const inputRef = inputsRaw[0]!;
  const inputLayer = inputLayers.find((l) => l.name === inputRef.layer);
  if (!inputLayer) throw new Error(`model.json: input layer "${inputRef.layer}" is not an InputLayer`);
  const name = typeof config.name === 'string' ? config.name : 'model';
  return { name, input: { layer: inputLayer, ref: inputRef, shape: batchlessShape(inputLayer) }, calls, outputs };
}

/** Accepts a TF.js `modelTopology` (the model config itself, or Keras's `{model_config, ...}` wrapper). */
export function parseKerasTopology(modelTopology: unknown): KerasGraph {
  const top =
    isObject(modelTopology) && isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  if (!isObject(top) || typeof top.class_name !== 'string')
    throw new Error('model.json: modelTopology is not a Keras model config');
  if (top.class_name === 'Sequential') return parseSequential(top.config);
  if (top.class_name === 'Model' || top.class_name === 'Functional') {
    if (!isObject(top.config)) throw new Error('model.json: functional model without config');
    return parseFunctional(top.config);
  }
  throw new Error(`model.json: model class ${top.class_name} is not supported (Sequential, Model or Functional)`);
}
