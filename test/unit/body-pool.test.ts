/** Body buffers used again (src/http/body-pool.ts): reuse by size, only its own buffers, once, within its bound. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyPool } from '../../src/http/body-pool.ts';

const KiB = 1024;

describe('BodyPool', () => {
  it('gives a returned buffer to the next body of its size class, and a fresh one while it is lent', () => {
    const pool = new BodyPool(1024 * KiB, 1024 * KiB);
    const a = pool.take(100 * KiB);
    assert.ok(a.byteLength >= 100 * KiB);
    const b = pool.take(100 * KiB);
    assert.notEqual(b.buffer, a.buffer, 'a lent buffer is never lent twice');
    pool.give(a.subarray(0, 100 * KiB)); // given back through a view of it, as bodies are
    assert.equal(pool.pooledBytes, a.byteLength);
    assert.equal(pool.take(90 * KiB).buffer, a.buffer, 'the same class reuses it');
    assert.equal(pool.pooledBytes, 0);
    assert.notEqual(pool.take(300 * KiB).buffer, a.buffer, 'another class does not');
  });

  it('takes back only its own buffers, each once', () => {
    const pool = new BodyPool(1024 * KiB, 1024 * KiB);
    pool.give(Buffer.alloc(128 * KiB));
    assert.equal(pool.pooledBytes, 0, 'a buffer it never lent');
    const a = pool.take(64 * KiB);
    pool.give(a);
    pool.give(a);
    assert.equal(pool.pooledBytes, a.byteLength, 'given twice, kept once');
    const [x, y] = [pool.take(64 * KiB), pool.take(64 * KiB)];
    assert.notEqual(x.buffer, y.buffer);
  });

  it('keeps at most its bound of free bytes, and never keeps bodies above the pooled size', () => {
    const pool = new BodyPool(256 * KiB, 512 * KiB);
    const lent = [pool.take(128 * KiB), pool.take(128 * KiB), pool.take(128 * KiB)];
    for (const buf of lent) pool.give(buf);
    assert.equal(pool.pooledBytes, 256 * KiB);
    const big = pool.take(600 * KiB);
    assert.equal(big.byteLength, 600 * KiB, 'exactly its size, not a class');
    pool.give(big);
    assert.equal(pool.pooledBytes, 256 * KiB);
    const none = new BodyPool(0, 512 * KiB);
    none.give(none.take(64 * KiB));
    assert.equal(none.pooledBytes, 0, 'BODY_POOL_BYTES=0 keeps nothing');
  });
});
