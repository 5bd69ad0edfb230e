/**
 * Issue 12, defect 1, through the service with its default limits: the many-scan progressive JPEG is refused
 * with 422 IMAGE_TOO_COMPLEX from its header (MAX_JPEG_SCANS), long before the seconds its decode would cost,
 * while a photo sent alongside is answered 200; the 1 × 40,000,000 PNG (within MAX_INPUT_PIXELS, ~0.55 s of CPU)
 * is answered — 200, or 422 when a loaded machine stretches its decode past DECODE_TIMEOUT_MS — and the service
 * answers a photo afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { manyScanJpeg, tallPng } from '../helpers/slow-images.ts';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

describe('decode work is bounded before decoding', () => {
  let svc: TestService;
  let photo: Buffer;
  before(async () => {
    svc = await startTestService();
    photo = await readFile(new URL('rocket.jpg', EXAMPLES));
  });
  after(() => svc?.close());

  it('refuses the many-scan JPEG with 422 while a photo beside it gets 200', async () => {
    const attack = manyScanJpeg(); // 6000×6000 grey, 6001 scans, ~420 KB: many seconds of libjpeg-turbo
    const started = Date.now();
    const [refused, served] = await Promise.all([postImage(svc.url, attack), postImage(svc.url, photo)]);
    const ms = Date.now() - started;
    assert.equal(refused.status, 422, await refused.clone().text());
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'IMAGE_TOO_COMPLEX');
    assert.equal(served.status, 200);
    console.log(`# many-scan JPEG refused and photo answered in ${ms} ms`);
  });

  it('answers the 1 × 40,000,000 PNG, then a photo', async () => {
    const started = Date.now();
    const res = await postImage(svc.url, tallPng());
    const ms = Date.now() - started;
    const body = (await res.json()) as { predictions?: unknown[]; error?: { code: string } };
    if (res.status === 200) {
      assert.equal(body.predictions?.length, 5, JSON.stringify(body));
    } else {
      // Only a decode stretched past its bound may be refused, and then as too complex, never as an error.
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.error?.code, 'IMAGE_TOO_COMPLEX');
      assert.ok(ms >= svc.config.DECODE_TIMEOUT_MS, `refused after ${ms} ms, before DECODE_TIMEOUT_MS`);
    }
    assert.equal((await postImage(svc.url, photo)).status, 200);
  });
});
