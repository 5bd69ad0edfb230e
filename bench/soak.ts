/**
 * npm run bench (soak part) — memory over 20,000 requests per engine: a model host process (the product's
 * startModelHost, bench/lib/soak-host.ts) and a front end (src/frontend/main.ts) against a private redis, driven
 * closed-loop (16 in flight) with 64×64 JPEGs on the trivial model (so 20,000 requests take seconds, not
 * minutes). The host's RSS and the inference thread's live TF.js tensor count are sampled every 2,000
 * requests; growth is measured from the sample after the first 2,000 (warm) to the end.
 * Goal: RSS growth < 10 % and a flat tensor count. Writes bench/results/soak.json.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { freePort } from '../src/system/ports.ts';
import { multipartBody, smallJpegs, ROOT } from './lib/images.ts';
import { LoadClient } from './lib/loadgen.ts';
import { startBenchRedis, startProc, type Proc } from './lib/procs.ts';
import { round } from './lib/stats.ts';
import { buildTinyModel } from './lib/tiny-model.ts';

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 20_000);
const EVERY = Math.max(1, Math.round(TOTAL / 10));
const IN_FLIGHT = 16;
const tinyDir = await buildTinyModel(32);
const bodies = (await smallJpegs(64)).map(multipartBody);

interface Stats {
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  liveTensors: number;
}
function stats(host: Proc): Promise<Stats> {
  return new Promise((resolve) => {
    host.child.once('message', (m) => resolve(m as Stats));
    host.child.send('stats');
  });
}

const out: Record<string, unknown> = {
  date: new Date().toISOString(),
  requestsPerEngine: TOTAL,
  inFlight: IN_FLIGHT,
  engines: {},
};
let failed = false;
for (const engine of ['onnx', 'tfjs'] as const) {
  const redis = await startBenchRedis();
  const procs: Proc[] = [];
  let client: LoadClient | undefined;
  try {
    const host = await startProc({
      name: `soak-host-${engine}`,
      entry: 'bench/lib/soak-host.ts',
      readyPattern: /soak host ready/,
      ipc: true,
      env: { REDIS_URL: redis.url, MODEL_DIR: tinyDir, ENGINE: engine, LOG_LEVEL: 'warn' },
    });
    procs.push(host);
    const port = await freePort();
    procs.push(
      await startProc({
        name: 'soak-frontend',
        entry: 'src/frontend/main.ts',
        readyPattern: /front end listening/,
        env: { REDIS_URL: redis.url, PORT: String(port), LOG_LEVEL: 'info' },
      }),
    );
    client = new LoadClient(`http://127.0.0.1:${port}`, bodies, IN_FLIGHT);
    const samples: Array<{ requests: number } & Stats> = [{ requests: 0, ...(await stats(host)) }];
    let sent = 0,
      answered = 0,
      errors = 0;
    const started = performance.now();
    const nextSample: Array<Promise<void>> = [];
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (sent < TOTAL) {
          sent++;
          const r = await client!.post();
          answered++;
          if (!r.ok) errors++;
          if (answered % EVERY === 0)
            nextSample.push(
              stats(host).then((s) => {
                samples.push({ requests: answered, ...s });
              }),
            );
        }
      }),
    );
    await Promise.all(nextSample);
    const seconds = (performance.now() - started) / 1000;
    samples.sort((a, b) => a.requests - b.requests);
    const base = samples.find((s) => s.requests >= EVERY) ?? samples[0]!;
    const last = samples[samples.length - 1]!;
    const tensors = samples.filter((s) => s.requests >= EVERY).map((s) => s.liveTensors);
    const result = {
      requests: answered,
      errors,
      seconds: round(seconds, 1),
      rps: round(answered / seconds, 1),
      rssBaseMiB: round(base.rssMiB, 1),
      rssEndMiB: round(last.rssMiB, 1),
      rssGrowthPct: round((100 * (last.rssMiB - base.rssMiB)) / base.rssMiB, 2),
      tensorsMin: Math.min(...tensors),
      tensorsMax: Math.max(...tensors),
      samples: samples.map((s) => ({
        requests: s.requests,
        rssMiB: round(s.rssMiB, 1),
        heapUsedMiB: round(s.heapUsedMiB, 1),
        liveTensors: s.liveTensors,
      })),
    };
    (out.engines as Record<string, unknown>)[engine] = result;
    console.log(
      `soak ${engine}: ${answered} requests (${errors} errors) in ${result.seconds} s; host RSS ${result.rssBaseMiB} → ${result.rssEndMiB} MiB (${result.rssGrowthPct} %), live tensors ${result.tensorsMin}…${result.tensorsMax}`,
    );
  } catch (err) {
    failed = true;
    (out.engines as Record<string, unknown>)[engine] = { error: (err as Error).message };
    console.error(`soak ${engine} failed: ${(err as Error).message}`);
  } finally {
    await client?.close().catch(() => {});
    for (const p of procs.reverse()) await p.stop();
    await redis.stop();
  }
}
await mkdir(`${ROOT}bench/results`, { recursive: true });
await writeFile(`${ROOT}bench/results/soak.json`, JSON.stringify(out, null, 1) + '\n');
process.exit(failed ? 1 : 0);
