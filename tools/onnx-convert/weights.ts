/**
 * Reads a TF.js weights manifest and its shards into float32 arrays, dequantising exactly as tfjs-core's
 * `io.decodeWeights` does (uint8/uint16: q * scale + min computed in double then stored as float32; float16: exact).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WeightTensor {
  data: Float32Array;
  shape: number[];
}

interface Quantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  min?: number;
  scale?: number;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Quantization;
}

export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}

const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** IEEE half → float; every half value is exactly representable as a float32, so any correct decoder matches TF.js. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

function decodeWeight(spec: WeightSpec, bytes: Uint8Array): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = spec.quantization;
  if (q) {
    if (q.dtype === 'float16') {
      for (let i = 0; i < size; i++) values[i] = halfToFloat(view.getUint16(i * 2, true));
    } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      if (q.min === undefined || q.scale === undefined)
        throw new Error(`weight ${spec.name}: ${q.dtype} quantization needs min and scale`);
      for (let i = 0; i < size; i++) {
        const v = q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(i * 2, true);
        values[i] = v * q.scale + q.min;
      }
    } else {
      throw new Error(`weight ${spec.name}: unknown quantization dtype ${String((q as { dtype: unknown }).dtype)}`);
    }
    return values;
  }
  if (spec.dtype === 'float32') {
    for (let i = 0; i < size; i++) values[i] = view.getFloat32(i * 4, true);
  } else if (spec.dtype === 'int32') {
    for (let i = 0; i < size; i++) values[i] = view.getInt32(i * 4, true);
  } else {
    throw new Error(`weight ${spec.name}: unsupported dtype ${spec.dtype}`);
  }
  return values;
}

function byteLength(spec: WeightSpec): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const per = BYTES_PER_VALUE[dtype];
  if (per === undefined) throw new Error(`weight ${spec.name}: unsupported dtype ${dtype}`);
  return size * per;
}

/** All weights of a model by their manifest name. Each group's shards are concatenated, as TF.js does. */
export async function readWeights(modelDir: string, manifest: WeightsGroup[]): Promise<Map<string, WeightTensor>> {
  const out = new Map<string, WeightTensor>();
  for (const group of manifest) {
    const shards = await Promise.all(group.paths.map((p) => readFile(join(modelDir, p))));
    const data = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      const length = byteLength(spec);
      if (offset + length > data.byteLength)
        throw new Error(`weight ${spec.name}: shard data ends before the weight does`);
      out.set(spec.name, { data: decodeWeight(spec, data.subarray(offset, offset + length)), shape: spec.shape });
      offset += length;
    }
  }
  return out;
}

/**
 * The weights belonging to one layer, keyed by their short name (kernel, bias, gamma...). A manifest name belongs
 * to a layer when one of its scope segments is the layer name: `conv/kernel`, `model/conv/kernel`, `lstm/cell/kernel`.
 */
export function weightsOfLayer(all: Map<string, WeightTensor>, layerName: string): Map<string, WeightTensor> {
  const mine = new Map<string, WeightTensor>();
  for (const [name, tensor] of all) {
    const segments = name.split('/');
    if (segments.slice(0, -1).includes(layerName))
      mine.set(segments[segments.length - 1]!.replace(/:\d+$/, ''), tensor);
  }
  return mine;
}
