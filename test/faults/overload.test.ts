/**
 * Overload: capacity is measured briefly, then about ten times that is offered open-loop for 20 s. Admission
 * control (MAX_QUEUE) keeps the queue bounded: the excess is refused at once with 503 + Retry-After, accepted
 * requests are answered within their deadline, the processes' memory stays bounded, and the service serves
 * normally as soon as the load drops. Front end and model host run as real processes (their RSS is sampled).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { killAll, sleep, startFrontendProcess, startHostProcess, type Child } from '../helpers/processes.ts';
import { closedLoop, closeLoadAgent, openLoop, postRaw, smallPng, summarize } from '../helpers/load.ts';

const REQUEST_TIMEOUT_MS = 5000;
const MAX_QUEUE = 32;
const MiB = 1024 * 1024;

describe('overload', () => {
  let redis: EmbeddedRedis;
  let frontend: Child;
  let host: Child;
  let url: string;
  let image: Buffer;

  before(async () => {
    redis = await startEmbeddedRedis();
    image = await smallPng(64);
    const env = {
      REDIS_URL: redis.url,
      KEY_PREFIX: 'overload',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      MAX_QUEUE: String(MAX_QUEUE),
      MAX_BATCH: '16',
    };
    const [fe, h] = await Promise.all([startFrontendProcess('frontend', env), startHostProcess('host', env)]);
    frontend = fe.child;
    url = fe.url;
    host = h;
  });
  after(async () => {
    await killAll();
    await redis?.stop();
    await closeLoadAgent();
  });

  it('refuses the excess at once, answers what it accepts in time, stays bounded, and recovers', async () => {
    // Capacity, briefly: closed loop at the queue's depth.
    const probe = closedLoop(url, image, 16);
    await sleep(3000);
    const measured = (await probe.stop()).filter((s) => s.status === 200).length / 3;
    const rate = Math.min(400, Math.max(50, Math.round(measured * 10)));

    const rss = { frontend: [] as number[], host: [] as number[] };
    const sampler = setInterval(() => {
      rss.frontend.push(frontend.rss());
      rss.host.push(host.rss());
    }, 500);
    let samples;
    try {
      samples = await openLoop(url, image, rate, 20_000);
    } finally {
      clearInterval(sampler);
    }
    const counts = summarize(samples);
    const accepted = samples.filter((s) => s.status === 200 || s.status === 504);
    const refused = samples.filter((s) => s.status === 503);
    const refusedMs = refused.map((s) => s.ms).sort((a, b) => a - b);
    const peak = (xs: number[]) => Math.max(...xs) / MiB;
    const firstHalf = (xs: number[]) => xs.slice(0, xs.length >> 1);
    console.log(
      `# overload: capacity ~${measured.toFixed(0)}/s, offered ${rate}/s for 20 s: ${JSON.stringify(counts)}; ` +
        `503 median ${refusedMs[refusedMs.length >> 1]} ms, max ${refusedMs.at(-1)} ms; ` +
        `peak RSS front end ${peak(rss.frontend).toFixed(0)} MiB, host ${peak(rss.host).toFixed(0)} MiB`,
    );

    for (const key of Object.keys(counts))
      assert.ok(
        ['200', '503 OVERLOADED', '504 DEADLINE_EXCEEDED'].includes(key),
        `unexpected ${key}: ${JSON.stringify(counts)}`,
      );
    // The offered rate is capped at 400/s, so on a fast machine the excess is less than 90%: expect at least half of it.
    const excessShare = Math.max(0, 1 - measured / rate);
    assert.ok(
      refused.length >= (samples.length * excessShare) / 2,
      `most of the excess was refused (${excessShare.toFixed(2)} offered)`,
    );
    assert.ok(accepted.length > 0);
    assert.ok(
      accepted.every((s) => s.ms <= REQUEST_TIMEOUT_MS + 1500),
      `accepted answered by the deadline; slowest ${Math.max(...accepted.map((s) => s.ms))} ms`,
    );
    assert.ok(refusedMs[refusedMs.length >> 1]! < 250, 'refusals are immediate');
    assert.ok(refusedMs.at(-1)! < 3000, 'no refusal waited');
    // Bounded: well under any leak's growth, and not growing in the second half of the run.
    assert.ok(peak(rss.frontend) < 600 && peak(rss.host) < 1500, 'RSS within bounds');
    assert.ok(peak(rss.frontend) < peak(firstHalf(rss.frontend)) + 100, 'front end RSS not growing');
    assert.ok(peak(rss.host) < peak(firstHalf(rss.host)) + 200, 'host RSS not growing');

    // Load gone: served normally at once.
    const res = await postRaw(url, image);
    assert.equal(res.status, 200, JSON.stringify(res));
    assert.equal(host.proc.exitCode, null);
    assert.equal(frontend.proc.exitCode, null);
  });
});
