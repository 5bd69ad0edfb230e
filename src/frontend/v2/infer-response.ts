/**
 * Builds an Open Inference Protocol inference response: the probabilities as FP32 [N, classes], or the
 * classification extension's top k as BYTES [N, k] of "score:index:label"; as JSON `data`, or as binary data
 * after the JSON (binary tensor data extension) with Inference-Header-Content-Length giving the JSON's length.
 */
import { topIndices } from '../../model/rank.ts';
import { OUTPUT_NAME, type OutputRequest } from './infer-request.ts';

export const MODEL_VERSION = '1';

export interface InferAnswer {
  contentType: string;
  headers: Record<string, string>;
  body: string | Buffer;
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

/** BYTES elements as the binary extension lays them out: a 4-byte little-endian length, then the bytes. */
function bytesTensor(items: readonly string[]): Buffer {
  const parts = items.flatMap((s) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  });
  return Buffer.concat(parts);
}

export function inferResponse(
  model: string,
  labels: readonly string[],
  rows: readonly Uint8Array[],
  output: OutputRequest,
  id?: string,
  version: string = MODEL_VERSION,
): InferAnswer {
  const classes = labels.length;
  const scores = probabilities(rows, classes);
  const n = rows.length;
  let tensor: { shape: number[]; datatype: 'FP32' | 'BYTES'; data: number[] | string[]; binary: Buffer };
  if (output.classification !== undefined) {
    const k = Math.min(output.classification, classes);
    const data = Array.from({ length: n }, (_, r) => classify(scores, r, classes, k, labels)).flat();
    tensor = { shape: [n, k], datatype: 'BYTES', data, binary: output.binary ? bytesTensor(data) : Buffer.alloc(0) };
  } else {
    tensor = {
      shape: [n, classes],
      datatype: 'FP32',
      data: Array.from(scores),
      binary: Buffer.from(scores.buffer, scores.byteOffset, scores.byteLength),
    };
  }
  const head = { model_name: model, model_version: version, ...(id !== undefined && { id }) };
  const { shape, datatype } = tensor;
  if (!output.binary) {
    const body = JSON.stringify({ ...head, outputs: [{ name: OUTPUT_NAME, shape, datatype, data: tensor.data }] });
    return { contentType: 'application/json', headers: {}, body };
  }
  const json = Buffer.from(
    JSON.stringify({
      ...head,
      outputs: [{ name: OUTPUT_NAME, shape, datatype, parameters: { binary_data_size: tensor.binary.length } }],
    }),
  );
  return {
    contentType: 'application/octet-stream',
    headers: { 'Inference-Header-Content-Length': String(json.length) },
    body: Buffer.concat([json, tensor.binary]),
  };
}
