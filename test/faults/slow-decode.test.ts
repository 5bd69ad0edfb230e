/**
 * Issue 12, defect 1: slow-to-decode images must not stall anyone else. The test crafts the attack itself
 * (test/helpers/slow-images.ts) and posts photos meanwhile; every photo must be answered 200 near its usual
 * latency. Two cases:
 *   - within the default limits: an attacker keeps the slowest images they allow decoding at all times (a
 *     progressive JPEG at MAX_JPEG_SCANS, a 1×40,000,000 PNG); they are stragglers, decoded on spare threads, and
 *     batches run without them;
 *   - the scan limit raised: two 4000×4000 JPEGs of 3000 scans (seconds of uninterruptible libjpeg work) are
 *     abandoned at DECODE_TIMEOUT_MS with 422 IMAGE_TOO_COMPLEX while their decodes go on aside.
 * Needs UV_THREADPOOL_SIZE above the decode threads (npm test sets it; see src/config/uv-threads.ts).
 */
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startTestService, EXAMPLES, type TestService } from '../../scripts/lib/in-process-service.ts';
import { closedLoop, closeLoadAgent, postRaw, summarize, type Sample } from '../helpers/load.ts';
import { manyScanJpeg, tallPng } from '../helpers/slow-images.ts';
import { uvThreadpoolSize, uvThreadsNeeded } from '../../src/config/uv-threads.ts';

const DECODE_TIMEOUT_MS = 1500;

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const ms = (xs: Sample[]) => xs.map((s) => s.ms);
const report = (xs: Sample[]) =>
  `p50 ${quantile(ms(xs), 0.5)} p95 ${quantile(ms(xs), 0.95)} max ${Math.max(...ms(xs))} ms`;

describe('slow-to-decode images under normal traffic', () => {
  let svc: TestService;
  let photo: Buffer;
  let baseline: Sample[];
  // A service per case: an abandoned decode goes on until its decoder returns, and must not carry over.
  beforeEach(async () => {
    svc = await startTestService({ DECODE_TIMEOUT_MS: String(DECODE_TIMEOUT_MS), MAX_JPEG_SCANS: '10000' });
    const needed = uvThreadsNeeded(1, svc.config);
    assert.ok(uvThreadpoolSize() >= needed, `run with UV_THREADPOOL_SIZE >= ${needed} (npm test sets it)`);
    photo = await readFile(new URL('chelsea.png', EXAMPLES));
    baseline = [];
    for (let i = 0; i < 20; i++) baseline.push(await postRaw(svc.url, photo));
    assert.deepEqual(summarize(baseline), { 200: 20 });
  });
  afterEach(() => svc?.close());
  after(() => closeLoadAgent());

  /**
   * Photos from 4 clients while `attack` runs: every photo 200, none anywhere near its deadline (before the fix they
   * waited for the slow decodes, seconds, and got 504). Latency figures are printed, not asserted: on a shared
   * 2-core machine the slow decodes still take their share of the CPU.
   */
  async function photosDuring(attack: () => Promise<Sample[]>): Promise<Sample[]> {
    const load = closedLoop(svc.url, photo, 4);
    const slow = await attack();
    const normal = await load.stop();
    console.log(`# baseline ${report(baseline)}; photos under attack (${normal.length}): ${report(normal)}`);
    console.log(`# slow images: ${JSON.stringify(summarize(slow))}, ${report(slow)}`);
    assert.ok(normal.length >= 8, `photos kept flowing (${normal.length})`);
    assert.deepEqual(Object.keys(summarize(normal)), ['200'], `photo statuses: ${JSON.stringify(summarize(normal))}`);
    assert.ok(Math.max(...ms(normal)) < svc.config.REQUEST_TIMEOUT_MS / 2, `photos under attack: ${report(normal)}`);
    return slow;
  }

  it('the slowest images the default limits allow, one decoding at all times: photos unaffected', async () => {
    const attacks: Array<[Buffer, string]> = [
      [manyScanJpeg({ scans: 99 }), 'image/jpeg'],
      [tallPng(), 'image/png'],
    ];
    const slow = await photosDuring(async () => {
      const samples: Sample[] = [];
      const stopAt = Date.now() + 6000;
      for (let i = 0; Date.now() < stopAt; i++) samples.push(await postRaw(svc.url, ...attacks[i % 2]!));
      return samples;
    });
    // Allowed images: answered 200, or 422 when a loaded machine stretches one past DECODE_TIMEOUT_MS.
    assert.ok(
      slow.every((s) => s.status === 200 || s.code === 'IMAGE_TOO_COMPLEX'),
      JSON.stringify(summarize(slow)),
    );
  });

  it('two images of seconds of uninterruptible decoding: abandoned with 422, photos unaffected', async () => {
    const attack = manyScanJpeg({ width: 4000, height: 4000, scans: 3000 });
    const slow = await photosDuring(async () => {
      await new Promise((r) => setTimeout(r, 200)); // photos are flowing
      return Promise.all([postRaw(svc.url, attack, 'image/jpeg'), postRaw(svc.url, attack, 'image/jpeg')]);
    });
    assert.deepEqual(summarize(slow), { '422 IMAGE_TOO_COMPLEX': 2 });
  });
});
