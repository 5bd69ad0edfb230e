import { availableParallelism } from 'node:os';
import { Redis } from 'ioredis';
import { freePort } from '../src/system/ports.ts';
import { startBenchRedis, startProc, type Proc } from './lib/procs.ts';
import { buildTinyModel } from './lib/tiny-model.ts';
import { exampleImages, multipartBody, smallJpegs, type Body } from './lib/images.ts';
import { LoadClient, closedLoop, type PointResult } from './lib/loadgen.ts';
import { startRedisCluster } from '../scripts/lib/redis-topology.ts';
import { basename } from 'node:path';
import { connectRedis, configuredRedisTarget, type RedisClient } from '../src/redis/connect.ts';
import { createLogger } from '../src/observability/logger.ts';
import { keysFor, modelKeys } from '../src/wire/keys.ts';
import { saveResults } from './lib/results.ts';

const MEASURE_MS = Number(process.env.BENCH_CLUSTER_MS ?? 6000);
const CONCURRENCY = Number(process.env.BENCH_CLUSTER_CONCURRENCY ?? 32);

interface RedisCounters {
  inBytes: number;
  outBytes: number;
  /** To replicas (Redis 7 counts it apart from total_net_output_bytes). */
  replBytes: number;
  cpuS: number;
}

async function counters(clients: Redis[]): Promise<RedisCounters> {
  const total: RedisCounters = { inBytes: 0, outBytes: 0, replBytes: 0, cpuS: 0 };
  for (const c of clients) {
    const info = await c.info();
    const num = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    total.inBytes += num('total_net_input_bytes');
    total.outBytes += num('total_net_output_bytes');
    total.replBytes += num('total_net_repl_output_bytes');
    total.cpuS += num('used_cpu_user') + num('used_cpu_sys');
  }
  return total;
}

interface Row {
  system: string;
  images: string;
  point: PointResult;
  requests: number;
  perRequest: { inBytes: number; outBytes: number; replBytes: number; cpuUs: number };
  /** Primaries only (replication traffic counts on the primaries' output). */
  nodes: number;
  /** With several shards: the request streams' lengths sampled every 50 ms (how even round robin keeps them). */
  shardBalance?: { samples: number; meanLength: number; meanSpread: number; maxSpread: number };
}

/** Samples the shards' XLEN every 50 ms until stopped: mean length, and the spread (longest − shortest). */
function sampleShards(redis: RedisClient, streams: string[]): () => Promise<Row['shardBalance']> {
  const spreads: number[] = [];
  const lengths: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const xlens = await Promise.all(streams.map((k) => redis.xlen(k).catch(() => 0)));
      spreads.push(Math.max(...xlens) - Math.min(...xlens));
      lengths.push(xlens.reduce((a, b) => a + b, 0) / xlens.length);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
    return {
      samples: spreads.length,
      meanLength: mean(lengths),
      meanSpread: mean(spreads),
      maxSpread: Math.max(0, ...spreads),
    };
  };
}

async function measure(
  system: string,
  images: string,
  env: Record<string, string>,
  redisClients: Redis[],
  bodies: Body[],
  tinyDir: string,
): Promise<Row> {
  const procs: Proc[] = [];
  try {
    procs.push(
      await startProc({
        name: `${system}-host`,
        entry: 'src/host/main.ts',
        readyPattern: /model host ready/,
        env: { MODEL_DIR: tinyDir, LOG_LEVEL: 'info', PREPROCESS_THREADS: '1', ...env },
      }),
    );
    const port = await freePort();
    procs.push(
      await startProc({
        name: `${system}-frontend`,
        entry: 'src/frontend/main.ts',
        readyPattern: /front end listening/,
        env: { PORT: String(port), LOG_LEVEL: 'info', MODEL_DIR: tinyDir, ...env },
      }),
    );
    const client = new LoadClient(`http://127.0.0.1:${port}`, bodies, CONCURRENCY);
    let requests = 0;
    const post = client.post.bind(client);
    client.post = (signal) => {
      requests++;
      return post(signal);
    };
    const before = await counters(redisClients);
    const shards = Number(env.REQUEST_SHARDS ?? 1);
    let sampler: RedisClient | undefined;
    let stopSampling: (() => Promise<Row['shardBalance']>) | undefined;
    if (shards > 1) {
      sampler = connectRedis(
        configuredRedisTarget({ REDIS_SENTINEL_MASTER: 'mymaster', ...env })!,
        'bench-sampler',
        createLogger('bench', 'silent'),
      );
      const keys = modelKeys(keysFor(env.KEY_PREFIX!, shards), basename(tinyDir));
      stopSampling = sampleShards(
        sampler,
        keys.shards.map((k) => k.requests),
      );
    }
    const point = await closedLoop(client, CONCURRENCY, MEASURE_MS, 50);
    const shardBalance = await stopSampling?.();
    sampler?.disconnect();
    const after = await counters(redisClients);
    await client.close();
    const per = (v: number) => v / Math.max(1, requests);
    return {
      system,
      images,
      point,
      requests,
      nodes: redisClients.length,
      ...(shardBalance ? { shardBalance } : {}),
      perRequest: {
        inBytes: per(after.inBytes - before.inBytes),
        outBytes: per(after.outBytes - before.outBytes),
        replBytes: per(after.replBytes - before.replBytes),
        cpuUs: per((after.cpuS - before.cpuS) * 1e6),
      },
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

const rows: Row[] = [];
const tinyDir = await buildTinyModel();
const smalls = (await smallJpegs(64)).map(multipartBody);
const photos = exampleImages().map(multipartBody);
const photoBytes = photos.reduce((n, b) => n + b.body.length, 0) / photos.length;

const single = await startBenchRedis();
const singleClient = new Redis(single.url);
try {
  rows.push(
    await measure(
      'one Redis',
      '64×64 JPEG',
      { REDIS_URL: single.url, KEY_PREFIX: 'b1' },
      [singleClient],
      smalls,
      tinyDir,
    ),
  );
  rows.push(
    await measure(
      'one Redis',
      'example photos',
      { REDIS_URL: single.url, KEY_PREFIX: 'b2' },
      [singleClient],
      photos,
      tinyDir,
    ),
  );
} finally {
  singleClient.disconnect();
  await single.stop();
}

const cluster = await startRedisCluster({ nodeTimeoutMs: 5000 });
try {
  const primaries = (await cluster.primaries()).map((n) => cluster.nodeClient(n));
  const nodes = `redis://:${cluster.password}@127.0.0.1:${cluster.nodes[0]!.port}`;
  for (const shards of [1, 3]) {
    rows.push(
      await measure(
        `cluster 3+3, ${shards} shard${shards > 1 ? 's' : ''}`,
        '64×64 JPEG',
        { REDIS_CLUSTER_NODES: nodes, REQUEST_SHARDS: String(shards), KEY_PREFIX: `c${shards}` },
        primaries,
        smalls,
        tinyDir,
      ),
    );
  }
  rows.push(
    await measure(
      'cluster 3+3, 3 shards',
      'example photos',
      { REDIS_CLUSTER_NODES: nodes, REQUEST_SHARDS: '3', KEY_PREFIX: 'c3p' },
      primaries,
      photos,
      tinyDir,
    ),
  );
} finally {
  await cluster.stop();
}

const kb = (b: number) => (b / 1024).toFixed(1);
const lines = [
  `Cores: ${availableParallelism()} (shared with other work); ${CONCURRENCY} requests in flight, ${MEASURE_MS / 1000} s per point; ` +
    `one model host (trivial model), one front end. Mean example-photo body: ${kb(photoBytes)} KiB.`,
  '',
  '| system | images | req/s | p50 ms | p99 ms | Redis in KiB/req | Redis out KiB/req | to replicas KiB/req | Redis CPU µs/req |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.system} | ${r.images} | ${r.point.throughput.toFixed(0)} | ${r.point.latencyMs.p50.toFixed(1)} | ` +
      `${r.point.latencyMs.p99.toFixed(1)} | ${kb(r.perRequest.inBytes)} | ${kb(r.perRequest.outBytes)} | ${kb(r.perRequest.replBytes)} | ${r.perRequest.cpuUs.toFixed(0)} |`,
  ),
];
for (const r of rows) {
  if (r.shardBalance) {
    const b = r.shardBalance;
    lines.push(
      '',
      `${r.system}, ${r.images}: shard lengths sampled ${b.samples}× — mean ${b.meanLength.toFixed(1)} per shard, ` +
        `spread (longest − shortest) mean ${b.meanSpread.toFixed(1)}, max ${b.maxSpread}`,
    );
  }
}
console.log(lines.join('\n'));
saveResults('cluster.json', {
  at: new Date().toISOString(),
  cores: availableParallelism(),
  concurrency: CONCURRENCY,
  photoBytes,
  rows,
});
process.exit(0);
