/**
 * node --import tsx bench/http-servers.ts — the HTTP layer alone, uWS against node:http (HTTP_SERVER=node): one
 * front-end process per server (no model host), GET /healthz closed loop at 1, 16 and 64 in flight over undici
 * keep-alive. Prints requests/s and the front end's CPU time per request (from /proc, so the load generator's own
 * CPU is not counted), and writes http-servers.json (bench/results/ with BENCH_SAVE=1). BENCH_QUICK=1 shortens each point.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { Pool } from 'undici';
import { ROOT } from './lib/images.ts';
import { startBenchRedis, startProc } from './lib/procs.ts';
import { saveResults } from './lib/results.ts';

const MEASURE_MS = process.env.BENCH_QUICK === '1' ? 1000 : 3000;
const CONCURRENCY = [1, 16, 64];
const CLK_TCK = 100;

/** User + system CPU seconds of a process, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function closedLoop(pool: Pool, inFlight: number, ms: number): Promise<number> {
  let count = 0;
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        const res = await pool.request({ path: '/healthz', method: 'GET' });
        await res.body.dump();
        if (res.statusCode === 200) count++;
      }
    }),
  );
  return count;
}

const redis = await startBenchRedis();
const results: Array<Record<string, unknown>> = [];
try {
  for (const server of ['uws', 'node'] as const) {
    const fe = await startProc({
      name: `frontend-${server}`,
      entry: 'src/frontend/main.ts',
      env: { REDIS_URL: redis.url, PORT: '0', HTTP_SERVER: server, LOG_LEVEL: 'info', KEY_PREFIX: `bench-${server}` },
      readyPattern: /"port":(\d+).*"msg":"front end listening"/,
    });
    const port = fe.url; // what the ready pattern captured: the port of its 'front end listening' line
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1 });
    try {
      await closedLoop(pool, 16, 500); // warm-up
      for (const inFlight of CONCURRENCY) {
        const cpuBefore = cpuSeconds(fe.pid);
        const started = performance.now();
        const count = await closedLoop(pool, inFlight, MEASURE_MS);
        const seconds = (performance.now() - started) / 1000;
        const cpuUs = ((cpuSeconds(fe.pid) - cpuBefore) * 1e6) / count;
        const row = {
          server,
          inFlight,
          rps: Math.round(count / seconds),
          cpuUsPerRequest: Math.round(cpuUs),
          loadavg1: loadavg()[0] ?? 0,
        };
        results.push(row);
        console.log(
          `${server.padEnd(4)} ${String(inFlight).padStart(3)} in flight: ${row.rps} req/s, ${row.cpuUsPerRequest} µs CPU/request (load ${row.loadavg1.toFixed(1)})`,
        );
      }
    } finally {
      await pool.close();
      await fe.stop();
    }
  }
} finally {
  await redis.stop();
}
await mkdir(`${ROOT}bench/results`, { recursive: true });
saveResults('http-servers.json', {
  date: new Date().toISOString(),
  node: process.version,
  measureMs: MEASURE_MS,
  results,
});
