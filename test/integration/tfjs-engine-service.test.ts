/**
 * The service on the TF.js engine (ENGINE=tfjs): same top labels as the default engine, and no tensor leak
 * across 200 requests (the engine's live tensor count is the same before and after).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

describe('ENGINE=tfjs', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ ENGINE: 'tfjs', MAX_BATCH: '16' });
  });
  after(() => svc?.close());

  it('serves on TF.js and agrees with the default engine on the top labels', async () => {
    const { models } = await (await fetch(`${svc.url}/v1/models`)).json();
    assert.equal(models[0].engine, 'tfjs');
    for (const [file, top] of [
      ['chelsea.png', 'Neutral'],
      ['coffee.png', 'Neutral'],
      ['rocket.jpg', 'Drawing'],
    ] as const) {
      const body = await (await postImage(svc.url, await readFile(new URL(file, EXAMPLES)))).json();
      assert.equal(body.predictions[0].label, top, file);
    }
  });

  it('leaks no tensors over 200 requests', async () => {
    const small = await sharp(await readFile(new URL('chelsea.png', EXAMPLES)))
      .resize(160)
      .jpeg()
      .toBuffer();
    await postImage(svc.url, small);
    const before = await svc.host.liveTensors();
    for (let round = 0; round < 10; round++) {
      const res = await Promise.all(Array.from({ length: 20 }, () => postImage(svc.url, small)));
      assert.deepEqual(
        res.map((r) => r.status),
        Array(20).fill(200),
        `round ${round}: ${JSON.stringify(await Promise.all(res.filter((r) => r.status !== 200).map((r) => r.text())))}`,
      );
    }
    assert.equal(await svc.host.liveTensors(), before);
  });
});
