/**
 * Where the CPU goes at saturation: starts the service (npm start's entry) on the trivial model with small
 * JPEGs (the plumbing ceiling) or on the default model with the photos, drives it closed-loop, and reads
 * /proc CPU time of the service process (all its threads), its redis-server and this load generator.
 *   node --import tsx bench/cpu-split.ts [tiny|default] [in-flight] [LOG_LEVEL]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { multipartBody, smallJpegs, exampleImages } from './lib/images.ts';
import { closedLoop, LoadClient } from './lib/loadgen.ts';
import { startService } from './lib/systems.ts';
import { buildTinyModel } from './lib/tiny-model.ts';

const [which = 'tiny', inflight = '64', level = 'info'] = process.argv.slice(2);
const tiny = which === 'tiny';
const env: Record<string, string> = { LOG_LEVEL: level };
if (tiny) env.MODEL_DIR = await buildTinyModel(32);
const bodies = tiny ? (await smallJpegs(64)).map(multipartBody) : exampleImages().map(multipartBody);
const CLK = 100;
const cpuMs = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK;
  } catch {
    return NaN;
  }
};
const children = (pid: number) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    });
const run = await startService('cpu-split', env);
try {
  const svcPid = run.all[0]!.pid;
  const redisPid = children(svcPid).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('redis-server'));
  const client = new LoadClient(run.url, bodies, 256);
  await closedLoop(client, Number(inflight), 1000, 10);
  const threads = () =>
    new Map(
      readdirSync(`/proc/${svcPid}/task`).map((tid) => {
        const st = readFileSync(`/proc/${svcPid}/task/${tid}/stat`, 'utf8');
        const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.split(') ')[1]!.split(' ');
        return [tid, { comm, ms: ((Number(f[11]) + Number(f[12])) * 1000) / CLK }];
      }),
    );
  const t1 = threads();
  const before = { svc: cpuMs(svcPid), redis: redisPid ? cpuMs(redisPid) : NaN, bench: process.cpuUsage() };
  const t0 = performance.now();
  const r = await closedLoop(client, Number(inflight), 5000, 50);
  const wall = performance.now() - t0;
  const b = process.cpuUsage(before.bench);
  const share = (ms: number) => `${((100 * ms) / wall).toFixed(0)} % of a core`;
  console.log(
    `${which} model, ${inflight} in flight, LOG_LEVEL=${level}: ${r.throughput.toFixed(1)} req/s, p50 ${r.latencyMs.p50.toFixed(1)} ms`,
  );
  console.log(`  service process (uWS + model host + worker threads): ${share(cpuMs(svcPid) - before.svc)}`);
  console.log(`  its redis-server: ${share(cpuMs(redisPid!) - before.redis)}`);
  console.log(`  load generator (this process): ${share((b.user + b.system) / 1000)}`);
  console.log(
    `  per request: service ${((cpuMs(svcPid) - before.svc) / ((r.throughput * wall) / 1000)).toFixed(2)} ms CPU`,
  );
  const byComm = new Map<string, number>();
  for (const [tid, t] of threads()) {
    const d = t.ms - (t1.get(tid)?.ms ?? 0);
    const name = tid === String(svcPid) ? 'main thread' : t.comm;
    if (d > 0.02 * wall) byComm.set(`${name}#${tid}`, d);
    else byComm.set(`${name} (others)`, (byComm.get(`${name} (others)`) ?? 0) + d);
  }
  console.log(
    '  service threads by name:',
    [...byComm]
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${share(v)}`)
      .join(', '),
  );
  await client.close();
} finally {
  await run.stop();
}
process.exit(0);
