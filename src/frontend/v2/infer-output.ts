/**
 * The model's one output, whichever protocol answers: the probabilities as FP32 [N, classes], or the
 * classification extension's top k as BYTES [N, k] of "score:index:label". Values for JSON, or raw bytes laid out
 * as the protocol's binary forms (REST's binary data extension, gRPC's raw_output_contents): FP32 little-endian,
 * BYTES elements each after a 4-byte little-endian length. Both come from the same float32 scores, so the two
 * protocols answer the same bits.
 */
import { topIndices } from '../../model/rank.ts';

export const OUTPUT_NAME = 'probabilities';

export interface OutputRequest {
  /** Top k as "score:index:label" (classification extension); absent: the FP32 probabilities. */
  classification?: number;
  /** REST only: the output as binary data after the JSON (gRPC answers raw bytes always). */
  binary: boolean;
}

export interface OutputTensor {
  name: string;
  datatype: 'FP32' | 'BYTES';
  shape: number[];
  /** The elements for JSON: numbers (FP32) or strings (BYTES). */
  values(): number[] | string[];
  /** The elements as raw bytes. */
  raw(): Buffer;
}

/** Each element's probabilities (float32 bytes, one row per element) into one [N, classes] array. */
function probabilities(rows: readonly Uint8Array[], classes: number): Float32Array {
  const all = new Float32Array(rows.length * classes);
  rows.forEach((row, i) =>
    all.set(new Float32Array(row.buffer.slice(row.byteOffset, row.byteOffset + classes * 4)), i * classes),
  );
  return all;
}

/** Top k of one row as "score:index:label", highest first (Triton's classification extension format). */
function classify(scores: Float32Array, row: number, classes: number, k: number, labels: readonly string[]): string[] {
  return topIndices(scores, row, classes, k).map((i) => `${scores[row * classes + i]}:${i}:${labels[i] ?? ''}`);
}

/** BYTES elements as the binary forms lay them out: a 4-byte little-endian length, then the bytes. */
function bytesTensor(items: readonly string[]): Buffer {
  const parts = items.flatMap((s) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  });
  return Buffer.concat(parts);
}

/** The output tensor of N elements' probability rows (float32 bytes each, one per element, in order). */
export function outputTensor(
  labels: readonly string[],
  rows: readonly Uint8Array[],
  output: OutputRequest,
): OutputTensor {
  const classes = labels.length;
  const scores = probabilities(rows, classes);
  const n = rows.length;
  if (output.classification !== undefined) {
    const k = Math.min(output.classification, classes);
    const data = Array.from({ length: n }, (_, r) => classify(scores, r, classes, k, labels)).flat();
    return { name: OUTPUT_NAME, datatype: 'BYTES', shape: [n, k], values: () => data, raw: () => bytesTensor(data) };
  }
  return {
    name: OUTPUT_NAME,
    datatype: 'FP32',
    shape: [n, classes],
    values: () => Array.from(scores),
    raw: () => Buffer.from(scores.buffer, scores.byteOffset, scores.byteLength),
  };
}
