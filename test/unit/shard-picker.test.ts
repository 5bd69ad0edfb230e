import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ShardPicker } from '../../src/frontend/shard-picker.ts';

it('rotates the first shard tried and puts recently failed shards last', () => {
  const picker = new ShardPicker(3);
  assert.deepEqual(
    [picker.order(0), picker.order(0), picker.order(0), picker.order(0)],
    [
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
      [0, 1, 2],
    ],
  );
  picker.failed(1, 1000);
  assert.deepEqual(picker.order(1500), [2, 0, 1], 'its turn to go first, but shard 1 failed: last');
  assert.deepEqual(picker.order(1600), [2, 0, 1]);
  assert.deepEqual(picker.order(2500), [0, 1, 2], 'after the cooldown it takes its turn again');
  picker.failed(0, 3000);
  picker.succeeded(0);
  assert.deepEqual(picker.order(3000), [1, 2, 0]);
});
