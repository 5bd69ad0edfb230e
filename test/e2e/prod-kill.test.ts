/**
 * The durable-restart promise in production: `npm run prod:up` with default settings (nginx, two front ends, one
 * model host under PM2), 10 requests/s for 40 s, the model host SIGKILLed at 10 s and restarted by PM2: all 400
 * requests are answered 200. Requests arriving while no host is live wait in the stream (HOST_RESTART_GRACE_MS);
 * those the dead host held are re-claimed by its replacement. Run with the default repository and with several
 * models, where the default model is served as soon as it is warm, before the others finish loading.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureExampleModels } from '../../scripts/lib/example-models.ts';
import { closeLoadAgent, postRaw, summarize, type Sample } from '../helpers/load.ts';
import { CHELSEA, type Deployment, jsonLines, makeDeployment, onlinePids, prodDown, prodUp } from './prod-helpers.ts';

const RATE_PER_S = 10;
const TOTAL = 400;
const KILL_AT_MS = 10_000;

/** Exactly `total` requests, the i-th sent at start + i / rate, whatever the answers (clients do not wait). */
async function steadyLoad(url: string, body: Buffer, onTick: (sent: number) => void): Promise<Sample[]> {
  const started = Date.now();
  const inFlight: Array<Promise<Sample>> = [];
  for (let i = 0; i < TOTAL; i++) {
    const due = started + (i * 1000) / RATE_PER_S;
    if (due > Date.now()) await sleep(due - Date.now());
    inFlight.push(postRaw(url, body));
    onTick(i + 1);
  }
  return Promise.all(inFlight);
}

const variants: Array<[string, () => Promise<Record<string, string>>]> = [
  ['the default repository', async () => ({ MODEL_DIR: '' })],
  ['several models', async () => ({ MODEL_DIR: '', MODEL_REPOSITORY: await ensureExampleModels() })],
];

after(() => closeLoadAgent());

for (const [label, settings] of variants) {
  describe(`prod: the model host SIGKILLed under steady load (${label})`, () => {
    let d: Deployment;
    before(async () => {
      // Default settings but the test's own ports and state; REQUEST_TIMEOUT_MS back to its default.
      d = await makeDeployment({ ...(await settings()), REQUEST_TIMEOUT_MS: '', PREPROCESS_THREADS: '' });
      await prodUp(d);
    });
    after(async () => {
      await prodDown(d);
    });

    it(`answers all ${TOTAL} requests 200 across the kill and PM2's restart`, async () => {
      const chelsea = await readFile(CHELSEA);
      const [victim] = await onlinePids(d, 'model-host');
      assert.ok(victim, 'a model host is online');
      const started = Date.now();
      let killedAt = 0;
      const samples = await steadyLoad(d.nginxUrl, chelsea, () => {
        if (!killedAt && Date.now() - started >= KILL_AT_MS) {
          process.kill(victim, 'SIGKILL');
          killedAt = Date.now();
        }
      });
      const counts = summarize(samples);
      assert.deepEqual(counts, { 200: TOTAL }, `statuses: ${JSON.stringify(counts)}`);

      const [replacement] = await onlinePids(d, 'model-host');
      assert.ok(replacement && replacement !== victim, 'PM2 restarted the model host');
      // Kill to serving: the replacement's default model warm and announced.
      const logDir = join(d.varDir, 'pm2', 'logs');
      const files = (await readdir(logDir)).filter((f) => f.startsWith('model-host-out'));
      const logs = (await Promise.all(files.map((f) => jsonLines(join(logDir, f))))).flat();
      const ready = logs.find(
        (l) => l.msg === 'model version ready' && l.model === 'default' && l.pid === replacement,
      ) as { time: string } | undefined;
      assert.ok(ready, 'the replacement logged its default model ready');
      const toServing = Date.parse(ready.time) - killedAt;
      const slowest = Math.max(...samples.filter((s) => s.startedAt >= killedAt).map((s) => s.ms));
      console.log(
        `# ${label}: ${TOTAL}/${TOTAL} answered 200; kill to default model serving ${toServing} ms; slowest request after the kill ${slowest} ms`,
      );
    });
  });
}
