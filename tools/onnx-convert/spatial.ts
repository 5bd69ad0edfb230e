/**
 * Spatial arithmetic and layout shuffles: TF's explicit `same` padding, Keras→ONNX kernel layouts, and the
 * NCHW↔NHWC bookkeeping between Keras axes and the ONNX tensors that carry them.
 */
import type { GraphBuilder } from './graph-builder.ts';
import { attrInts } from './graph-builder.ts';
import type { TensorValue } from './types.ts';

export type Padding = 'valid' | 'same';

export interface WindowGeometry {
  /** ONNX order: [top, left, bottom, right]. */
  pads: [number, number, number, number];
  outHeight: number;
  outWidth: number;
}

/** Output size and begin/end padding along one axis, TF style: `same` puts the odd extra pixel at the end. */
function axisGeometry(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: Padding,
): [number, number, number] {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'valid') {
    const out = Math.floor((size - effective) / stride) + 1;
    return [out, 0, 0];
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const begin = Math.floor(total / 2);
  return [out, begin, total - begin];
}

export function windowGeometry(
  inHeight: number,
  inWidth: number,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: Padding,
): WindowGeometry {
  const [outHeight, top, bottom] = axisGeometry(inHeight, kernel[0], strides[0], dilations[0], padding);
  const [outWidth, left, right] = axisGeometry(inWidth, kernel[1], strides[1], dilations[1], padding);
  return { pads: [top, left, bottom, right], outHeight, outWidth };
}

/** Keras Conv2D kernel [kh, kw, in, out] (HWIO) → ONNX Conv weight [out, in, kh, kw] (OIHW). */
export function hwioToOihw(data: Float32Array, shape: number[]): { data: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o]!;
  return { data: out, dims: [cout, cin, kh, kw] };
}

/**
 * Keras depthwise kernel [kh, kw, channels, multiplier] → grouped Conv weight [channels·multiplier, 1, kh, kw].
 * TF numbers depthwise output channels c·multiplier + m, which is exactly ONNX's group-major output order.
 */
export function depthwiseToOihw(data: Float32Array, shape: number[]): { data: Float32Array; dims: number[] } {
  const [kh, kw, channels, multiplier] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < channels; c++)
        for (let m = 0; m < multiplier; m++)
          out[((c * multiplier + m) * kh + y) * kw + x] = data[((y * kw + x) * channels + c) * multiplier + m]!;
  return { data: out, dims: [channels * multiplier, 1, kh, kw] };
}

/** Rank-3 Keras tensors ([H, W, C]) live NCHW in the ONNX graph. */
export function isSpatial(value: TensorValue): boolean {
  return value.shape.length === 3;
}

/** ONNX axis holding Keras axis `kerasAxis` (counted with the batch axis, negatives allowed). */
export function onnxAxis(kerasAxis: number, value: TensorValue): number {
  const rank = value.shape.length + 1;
  const axis = kerasAxis < 0 ? kerasAxis + rank : kerasAxis;
  if (axis <= 0 || axis >= rank) throw new Error(`axis ${kerasAxis} out of range for rank ${rank}`);
  if (!isSpatial(value)) return axis;
  return axis === 3 ? 1 : axis + 1; // H→2, W→3, C→1
}

/** The value's data in Keras (channels-last) element order: a Transpose for spatial tensors, itself otherwise. */
export function toChannelsLast(graph: GraphBuilder, value: TensorValue, base: string): string {
  if (!isSpatial(value)) return value.name;
  return graph.addNode('Transpose', [value.name], `${base}/to_nhwc`, { perm: attrInts([0, 2, 3, 1]) });
}
