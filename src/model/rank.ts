/**
 * Ranks one row of a [N, classes] score matrix: the one top-k order for /predict (host, or the front end from a
 * cached answer) and /v2 (front end).
 */
import type { Prediction } from '../wire/envelope.ts';

/**
 * The indices of the k highest scores of `row`, highest first (ties keep class order). One pass that keeps the
 * k best so far in order (k is small, classes may be 1000): no array of every class and no sort per image.
 */
export function topIndices(scores: Float32Array, row: number, classes: number, k: number): number[] {
  const base = row * classes;
  const n = Math.max(0, Math.min(k, classes));
  const top: number[] = [];
  if (n === 0) return top;
  for (let c = 0; c < classes; c++) {
    const s = scores[base + c]!;
    // Full and not strictly better than the last kept: an equal score stays behind the earlier class.
    if (top.length === n && !(s > scores[base + top[n - 1]!]!)) continue;
    let at = top.length === n ? n - 1 : top.length;
    while (at > 0 && scores[base + top[at - 1]!]! < s) {
      top[at] = top[at - 1]!;
      at--;
    }
    top[at] = c;
  }
  return top;
}

/** The API's ranked predictions of one row: the k most probable labels with their probabilities. */
export function topK(scores: Float32Array, row: number, labels: readonly string[], k: number): Prediction[] {
  const classes = labels.length;
  return topIndices(scores, row, classes, Math.max(1, k)).map((i) => ({
    label: labels[i]!,
    probability: scores[row * classes + i]!,
  }));
}
