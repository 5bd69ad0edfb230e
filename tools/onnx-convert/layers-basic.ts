/**
 * Layers that need no spatial arithmetic: Dense, activations, identities (Dropout and friends), element-wise
 * merges, Concatenate and Rescaling.
 */
import { attrFloat, attrInt } from './graph-builder.ts';
import { applyActivation, clip, isSupportedActivation } from './activations.ts';
import { onnxAxis } from './spatial.ts';
import { firstInput, LayerConfig, requireRank, requireWeight } from './types.ts';
import type { LayerContext, LayerConverter, TensorValue } from './types.ts';

const dense: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  requireRank(ctx, input, 1);
  const kernel = requireWeight(ctx, 'kernel');
  const [inFeatures, units] = kernel.shape as [number, number];
  if (inFeatures !== input.shape[0])
    throw cfg.error(`kernel expects ${inFeatures} features, input has ${input.shape[0]}`);
  const activation = cfg.string('activation', 'linear');
  if (!isSupportedActivation(activation)) throw cfg.error(`activation "${activation}" is not supported`);
  const g = ctx.graph;
  const base = ctx.layer.name;
  // Gemm with transB = 0 takes the Keras [in, units] kernel as is.
  const inputs = [input.name, g.addFloatInitializer(`${base}/kernel`, kernel.data, kernel.shape)];
  if (cfg.boolean('use_bias', true))
    inputs.push(g.addFloatInitializer(`${base}/bias`, requireWeight(ctx, 'bias').data, [units]));
  const out: TensorValue = { name: g.addNode('Gemm', inputs, base), shape: [units] };
  return applyActivation(g, out, activation, base);
};

/** Inference-time no-ops: the output is the input value itself, no node. */
const identity: LayerConverter = (ctx) => firstInput(ctx);

const reLU: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  if (cfg.number('negative_slope', 0) !== 0) throw cfg.error('negative_slope is not supported');
  if (cfg.number('threshold', 0) !== 0) throw cfg.error('threshold is not supported');
  const max = cfg.optionalNumber('max_value');
  const base = ctx.layer.name;
  const name =
    max === undefined ? ctx.graph.addNode('Relu', [input.name], base) : clip(ctx.graph, input.name, 0, max, base);
  return { name, shape: input.shape };
};

const activation: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const name = cfg.string('activation');
  if (!isSupportedActivation(name)) throw cfg.error(`activation "${name}" is not supported`);
  return applyActivation(ctx.graph, firstInput(ctx), name, ctx.layer.name);
};

const softmax: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  const axis = cfg.number('axis', -1);
  const name = ctx.graph.addNode('Softmax', [input.name], ctx.layer.name, { axis: attrInt(onnxAxis(axis, input)) });
  return { name, shape: input.shape };
};

const leakyReLU: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const alpha = cfg.number('alpha', cfg.number('negative_slope', 0.3));
  const input = firstInput(ctx);
  return {
    name: ctx.graph.addNode('LeakyRelu', [input.name], ctx.layer.name, { alpha: attrFloat(alpha) }),
    shape: input.shape,
  };
};

const elu: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  return {
    name: ctx.graph.addNode('Elu', [input.name], ctx.layer.name, { alpha: attrFloat(cfg.number('alpha', 1)) }),
    shape: input.shape,
  };
};

function sameShapes(ctx: LayerContext): number[] {
  const first = firstInput(ctx).shape;
  for (const other of ctx.inputs) {
    if (other.shape.join() !== first.join()) {
      throw new LayerConfig(ctx.layer).error(
        `inputs have different shapes ([${first}] vs [${other.shape}]); broadcasting is not supported`,
      );
    }
  }
  return first;
}

/** An element-wise merge chained pairwise over all inputs, optionally scaled (Average). */
function merge(opType: string, scaleByCount = false): LayerConverter {
  return (ctx) => {
    const shape = sameShapes(ctx);
    const g = ctx.graph;
    const base = ctx.layer.name;
    let acc = firstInput(ctx).name;
    for (let i = 1; i < ctx.inputs.length; i++) {
      const last = i === ctx.inputs.length - 1 && !scaleByCount;
      acc = g.addNode(opType, [acc, ctx.inputs[i]!.name], last ? base : `${base}/partial`);
    }
    if (scaleByCount) acc = g.addNode('Mul', [acc, g.addScalar(`${base}/inv_count`, 1 / ctx.inputs.length)], base);
    return { name: acc, shape };
  };
}

const concatenate: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const first = firstInput(ctx);
  const kerasAxis = cfg.number('axis', -1);
  const rank = first.shape.length;
  const axis = (kerasAxis < 0 ? kerasAxis + rank + 1 : kerasAxis) - 1; // index into the batch-less shape
  if (axis < 0 || axis >= rank) throw cfg.error(`axis ${kerasAxis} is out of range`);
  const shape = [...first.shape];
  for (const other of ctx.inputs.slice(1)) {
    const mismatch = other.shape.length !== rank || other.shape.some((d, i) => i !== axis && d !== first.shape[i]);
    if (mismatch)
      throw cfg.error(`inputs [${first.shape}] and [${other.shape}] cannot be concatenated on axis ${kerasAxis}`);
    shape[axis]! += other.shape[axis]!;
  }
  const name = ctx.graph.addNode(
    'Concat',
    ctx.inputs.map((v) => v.name),
    ctx.layer.name,
    { axis: attrInt(onnxAxis(kerasAxis, first)) },
  );
  return { name, shape };
};

const rescaling: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  const scale = cfg.number('scale');
  const offset = cfg.number('offset', 0);
  const g = ctx.graph;
  const base = ctx.layer.name;
  let name = g.addNode(
    'Mul',
    [input.name, g.addScalar(`${base}/scale`, scale)],
    offset === 0 ? base : `${base}/scaled`,
  );
  if (offset !== 0) name = g.addNode('Add', [name, g.addScalar(`${base}/offset`, offset)], base);
  return { name, shape: input.shape };
};

export const BASIC_LAYERS: Record<string, LayerConverter> = {
  Dense: dense,
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  ReLU: reLU,
  Activation: activation,
  Softmax: softmax,
  LeakyReLU: leakyReLU,
  ELU: elu,
  Add: merge('Add'),
  Multiply: merge('Mul'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Average: merge('Add', true),
  Concatenate: concatenate,
  Rescaling: rescaling,
};
