/**
 * Convolutions and pools: Conv2D, DepthwiseConv2dNative and their fused forms (bias + activation) as NCHW ONNX
 * Conv with TF's padding made explicit; MaxPool and AvgPool (padding excluded from the average, as in TF).
 */
import { attrInt, attrInts } from '../graph-builder.ts';
import { depthwiseToOihw, hwioToOihw, windowGeometry } from '../spatial.ts';
import type { WindowGeometry } from '../spatial.ts';
import { applyActivation, readFusedTail } from './activations.ts';
import { toNchw } from './layout.ts';
import type { Tensor } from './layout.ts';
import { constInput, fail, requireNhwc, staticDim, tensorInput } from './op-context.ts';
import type { OpContext, OpConverter } from './op-context.ts';

/** The H and W entries of an NHWC attribute list such as strides [1, sh, sw, 1]. */
function spatialPair(ctx: OpContext, key: string): [number, number] {
  const values = ctx.attrs.ints(key, [1, 1, 1, 1]);
  if (values.length !== 4 || values[0] !== 1 || values[3] !== 1)
    throw fail(ctx, `${key} [${values}] must be [1, h, w, 1]`);
  return [values[1]!, values[2]!];
}

/** Output size and ONNX pads for a window over input `x`, from the node's padding (SAME, VALID or EXPLICIT). */
function geometry(
  ctx: OpContext,
  x: Tensor,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number] = [1, 1],
): WindowGeometry {
  const [height, width] = [staticDim(ctx, x, 1), staticDim(ctx, x, 2)];
  const padding = ctx.attrs.string('padding');
  let g: WindowGeometry;
  if (padding === 'SAME' || padding === 'VALID') {
    g = windowGeometry(height, width, kernel, strides, dilations, padding === 'SAME' ? 'same' : 'valid');
  } else if (padding === 'EXPLICIT') {
    const p = ctx.attrs.ints('explicit_paddings');
    if (p.length !== 8 || p[0] || p[1] || p[6] || p[7])
      throw fail(ctx, `explicit_paddings [${p}] must pad only H and W`);
    const out = (size: number, k: number, s: number, d: number, total: number): number =>
      Math.floor((size + total - ((k - 1) * d + 1)) / s) + 1;
    g = {
      pads: [p[2]!, p[4]!, p[3]!, p[5]!],
      outHeight: out(height, kernel[0], strides[0], dilations[0], p[2]! + p[3]!),
      outWidth: out(width, kernel[1], strides[1], dilations[1], p[4]! + p[5]!),
    };
  } else {
    throw fail(ctx, `padding ${padding} is not supported`);
  }
  if (g.outHeight < 1 || g.outWidth < 1) throw fail(ctx, `window ${kernel} does not fit the ${height}x${width} input`);
  return g;
}

function convolution(ctx: OpContext, depthwise: boolean, fused: boolean): Tensor {
  requireNhwc(ctx);
  ctx.attrs.requireFloat();
  const x = toNchw(ctx.graph, tensorInput(ctx, 0));
  const filter = constInput(ctx, 1, 'the filter');
  if (filter.shape.length !== 4) throw fail(ctx, `filter shape [${filter.shape}] must be [kh, kw, in, out]`);
  const [kh, kw, filterIn] = filter.shape as [number, number, number, number];
  const channels = staticDim(ctx, x, 3);
  const weight = depthwise ? depthwiseToOihw(filter.data, filter.shape) : hwioToOihw(filter.data, filter.shape);
  const outChannels = weight.dims[0]!;
  if (depthwise ? filterIn !== channels : channels % filterIn !== 0)
    throw fail(ctx, `filter [${filter.shape}] does not match ${channels} input channels`);
  const strides = spatialPair(ctx, 'strides');
  const dilations = spatialPair(ctx, 'dilations');
  const g = geometry(ctx, x, [kh, kw], strides, dilations);
  const tail = fused ? readFusedTail(ctx, 2) : { options: {} };
  if (tail.bias && tail.bias.data.length !== outChannels)
    throw fail(ctx, `bias has ${tail.bias.data.length} values for ${outChannels} channels`);
  const base = ctx.node.name;
  const inputs = [x.name, ctx.graph.addFloatInitializer(`${base}/weight`, weight.data, weight.dims)];
  if (tail.bias) inputs.push(ctx.graph.addFloatInitializer(`${base}/bias`, tail.bias.data, [outChannels]));
  const name = ctx.graph.addNode('Conv', inputs, base, {
    kernel_shape: attrInts([kh, kw]),
    strides: attrInts(strides),
    dilations: attrInts(dilations),
    pads: attrInts(g.pads),
    group: attrInt(depthwise ? channels : channels / filterIn),
  });
  const out: Tensor = {
    kind: 'tensor',
    name,
    shape: [x.shape[0]!, g.outHeight, g.outWidth, outChannels],
    perm: x.perm,
  };
  return tail.activation ? applyActivation(ctx.graph, out, tail.activation, base, tail.options) : out;
}

function pool(ctx: OpContext, onnxOp: 'MaxPool' | 'AveragePool'): Tensor {
  requireNhwc(ctx);
  ctx.attrs.requireFloat();
  const x = toNchw(ctx.graph, tensorInput(ctx, 0));
  const kernel = spatialPair(ctx, 'ksize');
  const strides = spatialPair(ctx, 'strides');
  const g = geometry(ctx, x, kernel, strides);
  const name = ctx.graph.addNode(onnxOp, [x.name], ctx.node.name, {
    kernel_shape: attrInts(kernel),
    strides: attrInts(strides),
    pads: attrInts(g.pads),
  });
  return { kind: 'tensor', name, shape: [x.shape[0]!, g.outHeight, g.outWidth, x.shape[3]!], perm: x.perm };
}

export const CONV_OPS: Record<string, OpConverter> = {
  Conv2D: (ctx) => convolution(ctx, false, false),
  _FusedConv2D: (ctx) => convolution(ctx, false, true),
  DepthwiseConv2dNative: (ctx) => convolution(ctx, true, false),
  DepthwiseConv2d: (ctx) => convolution(ctx, true, false),
  FusedDepthwiseConv2dNative: (ctx) => convolution(ctx, true, true),
  MaxPool: (ctx) => pool(ctx, 'MaxPool'),
  AvgPool: (ctx) => pool(ctx, 'AveragePool'),
};
