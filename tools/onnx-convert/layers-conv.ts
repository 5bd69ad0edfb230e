/**
 * Convolution layers (Conv2D, DepthwiseConv2D, SeparableConv2D) as NCHW ONNX Conv with explicit TF-style pads,
 * and BatchNormalization, folded into the preceding Conv when that Conv feeds nothing else.
 */
import { attrFloat, attrInt, attrInts } from './graph-builder.ts';
import { applyActivation, isSupportedActivation } from './activations.ts';
import { depthwiseToOihw, hwioToOihw, windowGeometry } from './spatial.ts';
import type { Padding } from './spatial.ts';
import { firstInput, LayerConfig, LayerConversionError, requireRank, requireWeight } from './types.ts';
import type { LayerContext, LayerConverter, TensorValue } from './types.ts';

interface ConvParams {
  weight: { data: Float32Array; dims: number[] };
  bias: Float32Array;
  strides: [number, number];
  dilations: [number, number];
  padding: Padding;
  group: number;
  activation: string;
}

function readPadding(cfg: LayerConfig): Padding {
  const padding = cfg.string('padding', 'valid');
  if (padding !== 'valid' && padding !== 'same') throw cfg.error(`padding "${padding}" is not supported`);
  return padding;
}

function readActivation(cfg: LayerConfig): string {
  const activation = cfg.string('activation', 'linear');
  if (!isSupportedActivation(activation)) throw cfg.error(`activation "${activation}" is not supported`);
  return activation;
}

/** Emits one Conv (+ activation); a linear Conv is registered as a BatchNormalization fold target. */
function emitConv(ctx: LayerContext, input: TensorValue, p: ConvParams, base: string): TensorValue {
  const [height, width] = input.shape as [number, number, number];
  const [outChannels, , kh, kw] = p.weight.dims as [number, number, number, number];
  const geometry = windowGeometry(height, width, [kh, kw], p.strides, p.dilations, p.padding);
  if (geometry.outHeight < 1 || geometry.outWidth < 1) {
    throw new LayerConversionError(ctx.layer, `kernel ${kh}x${kw} does not fit the ${height}x${width} input`);
  }
  const weight = ctx.graph.addFloatInitializer(`${base}/weight`, p.weight.data, p.weight.dims);
  // Always carry a bias so a following BatchNormalization can be folded into it.
  const bias = ctx.graph.addFloatInitializer(`${base}/bias`, p.bias, [outChannels]);
  const out = ctx.graph.addNode('Conv', [input.name, weight, bias], base, {
    kernel_shape: attrInts([kh, kw]),
    strides: attrInts(p.strides),
    dilations: attrInts(p.dilations),
    pads: attrInts(geometry.pads),
    group: attrInt(p.group),
  });
  const conv: TensorValue = { name: out, shape: [geometry.outHeight, geometry.outWidth, outChannels] };
  if (p.activation === 'linear') ctx.foldTargets.set(out, { weight, bias, outChannels });
  return applyActivation(ctx.graph, conv, p.activation, base);
}

function biasOrZeros(ctx: LayerContext, cfg: LayerConfig, channels: number): Float32Array {
  if (!cfg.boolean('use_bias', true)) return new Float32Array(channels);
  const bias = requireWeight(ctx, 'bias');
  if (bias.data.length !== channels) throw cfg.error(`bias has ${bias.data.length} values for ${channels} channels`);
  return Float32Array.from(bias.data); // a copy: folding rewrites it in place
}

function spatialInput(ctx: LayerContext, cfg: LayerConfig): TensorValue {
  cfg.requireChannelsLast();
  const input = firstInput(ctx);
  requireRank(ctx, input, 3);
  return input;
}

const conv2d: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = spatialInput(ctx, cfg);
  const kernel = requireWeight(ctx, 'kernel');
  const [, , kernelIn, filters] = kernel.shape as [number, number, number, number];
  const channels = input.shape[2]!;
  if (channels % kernelIn !== 0)
    throw cfg.error(`kernel expects ${kernelIn} input channels per group, input has ${channels}`);
  return emitConv(
    ctx,
    input,
    {
      weight: hwioToOihw(kernel.data, kernel.shape),
      bias: biasOrZeros(ctx, cfg, filters),
      strides: cfg.pair('strides', [1, 1]),
      dilations: cfg.pair('dilation_rate', [1, 1]),
      padding: readPadding(cfg),
      group: channels / kernelIn,
      activation: readActivation(cfg),
    },
    ctx.layer.name,
  );
};

const depthwiseConv2d: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = spatialInput(ctx, cfg);
  const kernel = requireWeight(ctx, 'depthwise_kernel');
  const [, , channels, multiplier] = kernel.shape as [number, number, number, number];
  if (channels !== input.shape[2])
    throw cfg.error(`depthwise kernel has ${channels} channels, input has ${input.shape[2]}`);
  return emitConv(
    ctx,
    input,
    {
      weight: depthwiseToOihw(kernel.data, kernel.shape),
      bias: biasOrZeros(ctx, cfg, channels * multiplier),
      strides: cfg.pair('strides', [1, 1]),
      dilations: cfg.pair('dilation_rate', [1, 1]),
      padding: readPadding(cfg),
      group: channels,
      activation: readActivation(cfg),
    },
    ctx.layer.name,
  );
};

/** Depthwise stage (strides, padding, dilation) then a 1×1 pointwise Conv carrying the bias and activation. */
const separableConv2d: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = spatialInput(ctx, cfg);
  const depthwise = requireWeight(ctx, 'depthwise_kernel');
  const pointwise = requireWeight(ctx, 'pointwise_kernel');
  const [, , channels, multiplier] = depthwise.shape as [number, number, number, number];
  const filters = pointwise.shape[3]!;
  const mid = emitConv(
    ctx,
    input,
    {
      weight: depthwiseToOihw(depthwise.data, depthwise.shape),
      bias: new Float32Array(channels * multiplier),
      strides: cfg.pair('strides', [1, 1]),
      dilations: cfg.pair('dilation_rate', [1, 1]),
      padding: readPadding(cfg),
      group: channels,
      activation: 'linear',
    },
    `${ctx.layer.name}/depthwise`,
  );
  ctx.foldTargets.delete(mid.name);
  return emitConv(
    ctx,
    mid,
    {
      weight: hwioToOihw(pointwise.data, pointwise.shape),
      bias: biasOrZeros(ctx, cfg, filters),
      strides: [1, 1],
      dilations: [1, 1],
      padding: 'valid',
      group: 1,
      activation: readActivation(cfg),
    },
    ctx.layer.name,
  );
};

/** Keras BN is per channel on the last axis, which is ONNX axis 1 for both [N,C,H,W] and [N,C]. */
function channelAxisOk(cfg: LayerConfig, input: TensorValue): boolean {
  const raw = cfg.raw('axis');
  const axis = Array.isArray(raw) && raw.length === 1 ? raw[0] : (raw ?? -1);
  const rank = input.shape.length + 1;
  return (axis === -1 || axis === rank - 1) && (input.shape.length === 3 || input.shape.length === 1);
}

const batchNormalization: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  if (!channelAxisOk(cfg, input))
    throw cfg.error(`axis ${JSON.stringify(cfg.raw('axis'))} on input [N,${input.shape}] is not supported`);
  const channels = input.shape[input.shape.length - 1]!;
  const epsilon = cfg.number('epsilon', 1e-3);
  const mean = requireWeight(ctx, 'moving_mean').data;
  const variance = requireWeight(ctx, 'moving_variance').data;
  const gamma = cfg.boolean('scale', true) ? requireWeight(ctx, 'gamma').data : new Float32Array(channels).fill(1);
  const beta = cfg.boolean('center', true) ? requireWeight(ctx, 'beta').data : new Float32Array(channels);

  const target = ctx.foldTargets.get(input.name);
  if (target && ctx.inputConsumers[0] === 1 && target.outChannels === channels) {
    // y = (conv(x) + b - mean) · γ/√(var+ε) + β  ⇒  scale each output filter and rewrite the bias.
    const weight = ctx.graph.floatInitializer(target.weight).data;
    const bias = ctx.graph.floatInitializer(target.bias).data;
    const perFilter = weight.length / channels;
    for (let o = 0; o < channels; o++) {
      const s = gamma[o]! / Math.sqrt(variance[o]! + epsilon);
      for (let k = o * perFilter; k < (o + 1) * perFilter; k++) weight[k] = weight[k]! * s;
      bias[o] = (bias[o]! - mean[o]!) * s + beta[o]!;
    }
    ctx.foldTargets.delete(input.name);
    return input;
  }
  const g = ctx.graph;
  const base = ctx.layer.name;
  const out = g.addNode(
    'BatchNormalization',
    [
      input.name,
      g.addFloatInitializer(`${base}/gamma`, Float32Array.from(gamma), [channels]),
      g.addFloatInitializer(`${base}/beta`, Float32Array.from(beta), [channels]),
      g.addFloatInitializer(`${base}/mean`, Float32Array.from(mean), [channels]),
      g.addFloatInitializer(`${base}/variance`, Float32Array.from(variance), [channels]),
    ],
    base,
    { epsilon: attrFloat(epsilon) },
  );
  return { name: out, shape: input.shape };
};

export const CONV_LAYERS: Record<string, LayerConverter> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  BatchNormalization: batchNormalization,
};
