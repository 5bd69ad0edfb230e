/**
 * The model host's memory stays bounded on high-entropy images (issue 20, item 2): a 10 MB random-noise PNG
 * (1800×1830) posted again and again grew a host by gigabytes while @napi-rs/image decoded PNGs, because its
 * Transformer keeps the decoded pixels until V8 collects it and never tells V8 about them. The host runs as a
 * real process here, started as every host is (MALLOC_ARENA_MAX=2: without it glibc's per-thread arenas let
 * sharp's JPEG decodes creep up by a few hundred MB), and its RSS is sampled after every four answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';
import { captureLogger } from '../helpers/processes.ts';
import { killAll, startHostProcess, type Child } from '../helpers/processes.ts';
import { closeLoadAgent, postRaw } from '../helpers/load.ts';

const WIDTH = 1800;
const HEIGHT = 1830;
const MiB = 1024 * 1024;
/** Rounds of four images at once (one at a time did not show the leak; four did): three noise PNGs, one JPEG. */
const WARM_ROUNDS = 4;
const ROUNDS = 18;
const ROUND = ['png', 'png', 'png', 'jpeg'] as const;
/** A leak grows RSS round after round (@napi-rs/image: about 80 MB a round); a bounded host levels off. */
const GROWTH_BOUND = 120 * MiB;

async function noise(format: 'png' | 'jpeg'): Promise<Buffer> {
  const raw = sharp(randomBytes(WIDTH * HEIGHT * 3), { raw: { width: WIDTH, height: HEIGHT, channels: 3 } });
  return format === 'png' ? raw.png().toBuffer() : raw.jpeg({ quality: 95 }).toBuffer();
}

describe('model host memory on high-entropy images', () => {
  let redis: EmbeddedRedis;
  let frontend: Frontend;
  let host: Child;
  let url: string;
  const prefix = `decode-mem-${randomBytes(3).toString('hex')}`;
  const images = {} as Record<'png' | 'jpeg', Buffer>;

  before(async () => {
    redis = await startEmbeddedRedis();
    const env = { KEY_PREFIX: prefix, BODY_LIMIT_BYTES: String(16 * MiB), REQUEST_TIMEOUT_MS: '60000' };
    frontend = await startFrontend(testConfig({ PORT: '0', ...env }), redis.url, captureLogger('silent').log);
    url = `http://127.0.0.1:${frontend.port}`;
    host = await startHostProcess('host', { REDIS_URL: redis.url, PREPROCESS_THREADS: '2', ...env });
    for (const format of ['png', 'jpeg'] as const) images[format] = await noise(format);
  });
  after(async () => {
    await killAll();
    await frontend?.close();
    await redis?.stop();
    await closeLoadAgent();
  });

  it(`keeps the host's RSS level over ${ROUNDS * ROUND.length} noise PNGs and JPEGs, four at a time`, async () => {
    const round = async () => {
      const samples = await Promise.all(ROUND.map((format) => postRaw(url, images[format], `image/${format}`)));
      assert.deepEqual(
        samples.map((x) => x.status),
        [200, 200, 200, 200],
      );
      return host.rss();
    };
    // Warm-up: every decode thread has met both formats; its peak is the level to hold.
    let warm = 0;
    for (let i = 0; i < WARM_ROUNDS; i++) warm = Math.max(warm, await round());
    const rss: number[] = [];
    for (let i = 0; i < ROUNDS; i++) rss.push(await round());
    const line = rss.map((b) => Math.round(b / MiB)).join(' ');
    console.log(`# host RSS MB: warm-up peak ${Math.round(warm / MiB)}, then ${line}`);
    const third = ROUNDS / 3;
    const early = Math.max(...rss.slice(0, third));
    const late = Math.max(...rss.slice(-third));
    assert.ok(
      late - early < GROWTH_BOUND,
      `RSS still growing: ${Math.round((late - early) / MiB)} MB in ${2 * third} rounds: ${line}`,
    );
    assert.ok(
      late - warm < 2 * GROWTH_BOUND,
      `RSS ${Math.round((late - warm) / MiB)} MB over the warm-up peak: ${line}`,
    );
  });
});
