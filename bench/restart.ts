/**
 * Kill to serving: how long a model host takes to serve its default model again after a SIGKILL, as PM2 restarts
 * it (the compiled entry in dist/, as production runs it). A front end and a private Redis stay up; a request is
 * sent every 100 ms throughout (as the kill test's 10 requests/s). Per round: the host is SIGKILLed, a new one spawned after PM2's restart delay
 * (200 ms, scripts/pm2-apps.ts); measured are the wall time from the kill to the new host's "model version ready"
 * for the default model, to the first 200 answer of a request sent after the kill, and the CPU seconds the new
 * host's process (every thread) spent until ready, which a busy machine does not inflate.
 *
 *   npm run bench:restart -- [rounds=5] [repository]     (BENCH_SAVE=1 writes bench/results/restart.json)
 *
 * With `examples/models` (npm run models:examples) as the repository, the host serves three models and the
 * default one still loads first.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildIfStale } from '../scripts/build.ts';
import { killAllOnExit, launch, type Launched } from '../scripts/lib/launch.ts';
import { PROJECT_DIR } from '../src/build/layout.ts';
import { freePort } from '../src/system/ports.ts';
import { cpuMsOf } from './lib/proc-cpu.ts';
import { startBenchRedis } from './lib/procs.ts';
import { saveResults } from './lib/results.ts';
import { round, summarize } from './lib/stats.ts';

killAllOnExit();
const rounds = Number(process.argv[2] ?? 5);
const repository = resolve(process.argv[3] ?? join(PROJECT_DIR, 'models'));
const PM2_RESTART_DELAY_MS = 200;
const image = readFileSync(join(PROJECT_DIR, 'examples/chelsea.png'));

buildIfStale();
const redis = await startBenchRedis();
const env = { REDIS_URL: redis.url, KEY_PREFIX: 'bench-restart', MODEL_REPOSITORY: repository, LOG_LEVEL: 'info' };
const port = await freePort();
const frontend = launch({
  name: 'frontend',
  entry: 'src/frontend/main.ts',
  env: { ...env, PORT: String(port) },
  built: true,
});
await frontend.waitForLine((_, j) => j?.msg === 'front end listening', 60_000, 'front end listening');
const url = `http://127.0.0.1:${port}/predict`;

const startHost = (name: string): Launched => launch({ name, entry: 'src/host/main.ts', env, built: true });
const defaultReady = (host: Launched) =>
  host.waitForLine((_, j) => j?.msg === 'model version ready' && j.model === 'default', 120_000, 'default ready');

let host = startHost('host-0');
await defaultReady(host);

/** From the first host's readiness on: posts chelsea.png every 100 ms; records when each was sent and its status. */
const answers: Array<{ sentAt: number; status: number; at: number }> = [];
let sending = true;
let sent = 0;
const sender = (async () => {
  while (sending) {
    const sentAt = Date.now();
    sent++;
    void fetch(url, { method: 'POST', body: image, headers: { 'content-type': 'image/png' } })
      .then(async (r) => {
        await r.arrayBuffer();
        answers.push({ sentAt, status: r.status, at: Date.now() });
      })
      .catch(() => answers.push({ sentAt, status: 0, at: Date.now() }));
    await sleep(100);
  }
})();

const results: Array<{ toReadyMs: number; toFirstAnswerMs: number; cpuS: number }> = [];
for (let i = 1; i <= rounds; i++) {
  // Steady state: every model loaded, and past CLAIM_IDLE_MS, so the previous kill's requests are answered.
  await host.waitForLine((_, j) => j?.msg === 'model host ready', 120_000, 'model host ready');
  await sleep(8000);
  host.kill('SIGKILL');
  const killedAt = Date.now();
  await host.exited;
  await sleep(PM2_RESTART_DELAY_MS);
  host = startHost(`host-${i}`);
  await defaultReady(host);
  const readyAt = Date.now();
  const cpuS = cpuMsOf([host.pid]) / 1000;
  while (!answers.some((a) => a.sentAt > killedAt && a.status === 200)) await sleep(10);
  const firstAnswer = Math.min(...answers.filter((a) => a.sentAt > killedAt && a.status === 200).map((a) => a.at));
  results.push({ toReadyMs: readyAt - killedAt, toFirstAnswerMs: firstAnswer - killedAt, cpuS });
  console.log(
    `round ${i}: kill to default model ready ${readyAt - killedAt} ms, to first answer ${firstAnswer - killedAt} ms; host CPU until ready ${round(cpuS)} s`,
  );
}
sending = false;
await sender;
// Every request answered before the host stops: the last round's backlog too.
while (answers.length < sent) await sleep(50);
await host.stop();
await frontend.stop();
await redis.stop();

const statuses: Record<string, number> = {};
for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
const report = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  node: process.version,
  repository,
  rounds,
  killToReadyMs: summarize(results.map((r) => r.toReadyMs)),
  killToFirstAnswerMs: summarize(results.map((r) => r.toFirstAnswerMs)),
  hostCpuUntilReadyS: summarize(results.map((r) => r.cpuS)),
  statuses,
};
console.log(JSON.stringify(report, null, 2));
saveResults('restart.json', report);
