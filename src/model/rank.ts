/** Ranks one row of a [N, classes] score matrix: the one top-k order for /predict (host) and /v2 (front end). */

/** The indices of the k highest scores of `row`, highest first (ties keep class order). */
export function topIndices(scores: Float32Array, row: number, classes: number, k: number): number[] {
  const base = row * classes;
  const order = Array.from({ length: classes }, (_, i) => i);
  order.sort((a, b) => scores[base + b]! - scores[base + a]!);
  return order.slice(0, Math.max(0, Math.min(k, classes)));
}
