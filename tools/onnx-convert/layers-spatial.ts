/**
 * Layers that move or summarise pixels: padding and cropping, pooling (TF-style explicit pads), global pooling,
 * and the reshaping layers that must see Keras's channels-last element order (Flatten, Reshape).
 */
import { attrInt, attrInts } from './graph-builder.ts';
import type { AttributeValue } from './graph-builder.ts';
import { toChannelsLast, windowGeometry } from './spatial.ts';
import type { Padding } from './spatial.ts';
import { firstInput, LayerConfig, requireRank } from './types.ts';
import type { LayerContext, LayerConverter, TensorValue } from './types.ts';

/** Keras 2-D padding/cropping config: n, [h, w] or [[top, bottom], [left, right]] → [top, bottom, left, right]. */
function readEdges(cfg: LayerConfig, key: string): [number, number, number, number] {
  const raw = cfg.raw(key);
  if (typeof raw === 'number') return [raw, raw, raw, raw];
  if (Array.isArray(raw) && raw.length === 2) {
    const [h, w] = raw as unknown[];
    if (typeof h === 'number' && typeof w === 'number') return [h, h, w, w];
    if (Array.isArray(h) && Array.isArray(w) && h.length === 2 && w.length === 2) {
      return [h[0], h[1], w[0], w[1]].map(Number) as [number, number, number, number];
    }
  }
  throw cfg.error(`config "${key}" ${JSON.stringify(raw)} is not understood`);
}

function spatialInput(ctx: LayerContext, cfg: LayerConfig): TensorValue {
  cfg.requireChannelsLast();
  const input = firstInput(ctx);
  requireRank(ctx, input, 3);
  return input;
}

const zeroPadding2d: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = spatialInput(ctx, cfg);
  const [top, bottom, left, right] = readEdges(cfg, 'padding');
  const g = ctx.graph;
  // ONNX Pad order: all begins, then all ends, over [N, C, H, W].
  const pads = g.addInt64Initializer(`${ctx.layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  const name = g.addNode('Pad', [input.name, pads], ctx.layer.name);
  const [h, w, c] = input.shape as [number, number, number];
  return { name, shape: [h + top + bottom, w + left + right, c] };
};

const cropping2d: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = spatialInput(ctx, cfg);
  const [top, bottom, left, right] = readEdges(cfg, 'cropping');
  const [h, w, c] = input.shape as [number, number, number];
  if (top + bottom >= h || left + right >= w) throw cfg.error(`cropping removes the whole ${h}x${w} input`);
  const g = ctx.graph;
  const base = ctx.layer.name;
  const name = g.addNode(
    'Slice',
    [
      input.name,
      g.addInt64Initializer(`${base}/starts`, [top, left]),
      g.addInt64Initializer(`${base}/ends`, [h - bottom, w - right]),
      g.addInt64Initializer(`${base}/axes`, [2, 3]),
    ],
    base,
  );
  return { name, shape: [h - top - bottom, w - left - right, c] };
};

function pooling(opType: 'AveragePool' | 'MaxPool'): LayerConverter {
  return (ctx) => {
    const cfg = new LayerConfig(ctx.layer);
    const input = spatialInput(ctx, cfg);
    const pool = cfg.pair('pool_size', [2, 2]);
    const strides = cfg.pair('strides', pool); // Keras: strides default to the pool size
    const padding = cfg.string('padding', 'valid');
    if (padding !== 'valid' && padding !== 'same') throw cfg.error(`padding "${padding}" is not supported`);
    const [h, w, c] = input.shape as [number, number, number];
    const geometry = windowGeometry(h, w, pool, strides, [1, 1], padding as Padding);
    if (geometry.outHeight < 1 || geometry.outWidth < 1)
      throw cfg.error(`pool ${pool} does not fit the ${h}x${w} input`);
    const attributes: Record<string, AttributeValue> = {
      kernel_shape: attrInts(pool),
      strides: attrInts(strides),
      pads: attrInts(geometry.pads),
    };
    // TF averages only over real pixels at the borders of `same` pooling.
    if (opType === 'AveragePool') attributes.count_include_pad = attrInt(0);
    const name = ctx.graph.addNode(opType, [input.name], ctx.layer.name, attributes);
    return { name, shape: [geometry.outHeight, geometry.outWidth, c] };
  };
}

function globalPooling(opType: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (ctx) => {
    const cfg = new LayerConfig(ctx.layer);
    const input = spatialInput(ctx, cfg);
    const channels = input.shape[2]!;
    const base = ctx.layer.name;
    if (cfg.boolean('keepdims', false))
      return { name: ctx.graph.addNode(opType, [input.name], base), shape: [1, 1, channels] };
    const pooled = ctx.graph.addNode(opType, [input.name], `${base}/pooled`);
    return { name: ctx.graph.addNode('Flatten', [pooled], base, { axis: attrInt(1) }), shape: [channels] };
  };
}

/** Flatten in Keras element order: spatial values go back to NHWC first. */
const flatten: LayerConverter = (ctx) => {
  new LayerConfig(ctx.layer).requireChannelsLast();
  const input = firstInput(ctx);
  if (input.shape.length === 1) return input;
  const base = ctx.layer.name;
  const nhwc = toChannelsLast(ctx.graph, input, base);
  const name = ctx.graph.addNode('Flatten', [nhwc], base, { axis: attrInt(1) });
  return { name, shape: [input.shape.reduce((a, b) => a * b, 1)] };
};

const reshape: LayerConverter = (ctx) => {
  const cfg = new LayerConfig(ctx.layer);
  const input = firstInput(ctx);
  const raw = cfg.raw('target_shape');
  if (!Array.isArray(raw) || !raw.every((d) => typeof d === 'number'))
    throw cfg.error('target_shape must be a list of numbers');
  const size = input.shape.reduce((a, b) => a * b, 1);
  const known = (raw as number[]).filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const target = (raw as number[]).map((d) => (d === -1 ? size / known : d));
  if (target.reduce((a, b) => a * b, 1) !== size || !target.every(Number.isInteger)) {
    throw cfg.error(`cannot reshape [${input.shape}] to [${raw}]`);
  }
  const g = ctx.graph;
  const base = ctx.layer.name;
  const nhwc = toChannelsLast(g, input, base);
  // Dimension 0 in an ONNX Reshape shape copies the (dynamic) batch size.
  const spatialOut = target.length === 3;
  const reshaped = g.addNode(
    'Reshape',
    [nhwc, g.addInt64Initializer(`${base}/shape`, [0, ...target])],
    spatialOut ? `${base}/nhwc` : base,
  );
  const name = spatialOut ? g.addNode('Transpose', [reshaped], base, { perm: attrInts([0, 3, 1, 2]) }) : reshaped;
  return { name, shape: target };
};

export const SPATIAL_LAYERS: Record<string, LayerConverter> = {
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
  AveragePooling2D: pooling('AveragePool'),
  MaxPooling2D: pooling('MaxPool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  Flatten: flatten,
  Reshape: reshape,
};
