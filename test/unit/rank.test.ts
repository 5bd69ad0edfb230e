/** The top-k order (src/model/rank.ts) equals a stable sort of every class, ties in class order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { topIndices } from '../../src/model/rank.ts';

function reference(scores: Float32Array, row: number, classes: number, k: number): number[] {
  const order = Array.from({ length: classes }, (_, i) => i);
  order.sort((a, b) => scores[row * classes + b]! - scores[row * classes + a]!); // stable: ties keep class order
  return order.slice(0, Math.max(0, Math.min(k, classes)));
}

describe('topIndices', () => {
  it('matches a stable full sort for any k, with ties, over several rows', () => {
    for (const classes of [1, 2, 5, 17, 1000]) {
      const rows = 3;
      const scores = new Float32Array(rows * classes);
      // Few distinct values, so ties are common.
      for (let i = 0; i < scores.length; i++) scores[i] = Math.floor(Math.random() * 7) / 7;
      for (let row = 0; row < rows; row++) {
        for (const k of [0, 1, 3, 5, classes, classes + 3]) {
          assert.deepEqual(topIndices(scores, row, classes, k), reference(scores, row, classes, k), `${classes} ${k}`);
        }
      }
    }
  });
});
