/** Turns one row of class scores into the API's ranked predictions, or into the raw probabilities. */
import type { Prediction } from '../wire/envelope.ts';

export function topK(scores: Float32Array, row: number, labels: readonly string[], k: number): Prediction[] {
  const classes = labels.length;
  const base = row * classes;
  const order = Array.from({ length: classes }, (_, i) => i);
  order.sort((a, b) => scores[base + b]! - scores[base + a]!);
  return order
    .slice(0, Math.max(1, Math.min(k, classes)))
    .map((i) => ({ label: labels[i]!, probability: scores[base + i]! }));
}

/** One row of class scores as float32 little-endian bytes (a copy), for results that carry every probability. */
export function scoreRow(scores: Float32Array, row: number, classes: number): Uint8Array {
  const copy = scores.slice(row * classes, (row + 1) * classes);
  return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
}
