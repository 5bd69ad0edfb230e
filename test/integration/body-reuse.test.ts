/**
 * Request bodies share pooled buffers (src/http/body-pool.ts): a buffer goes back only once its images are in
 * Redis, so concurrent uploads of different photos each get their own photo's answer, bit for bit.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

describe('pooled request bodies', () => {
  let svc: TestService;
  before(async () => {
    // A pool small enough that buffers are taken back and lent again many times in this test.
    svc = await startTestService({ BODY_POOL_BYTES: String(2 * 1024 * 1024) });
  });
  after(() => svc?.close());

  it('answers each of many concurrent uploads with its own photo answer', async () => {
    const photos = await Promise.all(
      ['chelsea.png', 'coffee.png', 'rocket.jpg'].map((f) => readFile(new URL(f, EXAMPLES))),
    );
    const answer = async (photo: Buffer) => {
      const res = await postImage(svc.url, photo);
      assert.equal(res.status, 200);
      return JSON.stringify(((await res.json()) as { predictions: unknown }).predictions);
    };
    const alone: string[] = [];
    for (const photo of photos) alone.push(await answer(photo));
    assert.equal(new Set(alone).size, photos.length, 'the photos have different answers');
    for (let round = 0; round < 3; round++) {
      const order = Array.from({ length: 24 }, (_, i) => i % photos.length);
      const got = await Promise.all(order.map((i) => answer(photos[i]!)));
      got.forEach((g, k) => assert.equal(g, alone[order[k]!], `upload ${k} (${order[k]}) got another photo's answer`));
    }
  });
});
