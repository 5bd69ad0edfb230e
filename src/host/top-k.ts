/** Turns one row of class scores into the API's ranked predictions, or into the raw probabilities. */
import { topIndices } from '../model/rank.ts';
import type { Prediction } from '../wire/envelope.ts';

export function topK(scores: Float32Array, row: number, labels: readonly string[], k: number): Prediction[] {
  const classes = labels.length;
  return topIndices(scores, row, classes, Math.max(1, k)).map((i) => ({
    label: labels[i]!,
    probability: scores[row * classes + i]!,
  }));
}

/** One row of class scores as float32 little-endian bytes (a copy), for results that carry every probability. */
export function scoreRow(scores: Float32Array, row: number, classes: number): Uint8Array {
  const copy = scores.slice(row * classes, (row + 1) * classes);
  return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
}
