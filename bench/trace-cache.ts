/**
 * npm run bench:trace-cache — issue 25's figures, each pair measured in one run, in alternating rounds:
 *
 *   tracing    throughput of POST /predict (a traceparent on every request) with tracing on at 100 % sampling
 *              (always_on, OTLP http/protobuf to a local sink) against tracing off; goal: on ≥ 0.9 × off
 *   cache      a hit (the same image again) against a miss (every image new: trailing bytes after the JPEG's
 *              end make each one distinct), latency and throughput; and a miss with the cache on against the
 *              cache off (what looking up, hashing and storing cost a miss)
 *   hashing    SHA-256 of each example image (µs), the part of a miss the cache adds in the front end's thread
 *
 * The service runs in this process (host + front end + private Redis), like the tests: figures are for
 * comparing within one run, not absolute capacity (bench:load gives that). Env: ROUNDS (3), MEASURE_MS (4000),
 * CONCURRENCY (16).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { startTestService } from '../scripts/lib/in-process-service.ts';
import { imageDigest } from '../src/wire/response-cache.ts';
import { describeCpu } from './lib/cpu.ts';
import { exampleImages, multipartBody, type Body } from './lib/images.ts';
import { closedLoop, LoadClient, type PointResult } from './lib/loadgen.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const MEASURE_MS = Number(process.env.MEASURE_MS ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** An OTLP/HTTP endpoint that takes every export and drops it: the exporter's full work, no backend's. */
async function otlpSink(): Promise<{ endpoint: string; exports: () => number; close(): void }> {
  let exports = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports: () => exports,
    close: () => server.close(),
  };
}

/** Runs the load against a fresh service with `env`; one point. */
async function point(env: Record<string, string>, bodies: Body[], warm?: Body): Promise<PointResult> {
  const svc = await startTestService({ LOG_LEVEL: 'silent', ...env });
  const client = new LoadClient(svc.url, bodies, CONCURRENCY * 2);
  try {
    if (warm) await new LoadClient(svc.url, [warm], 1).post();
    return await closedLoop(client, CONCURRENCY, MEASURE_MS, 50);
  } finally {
    await client.pool.close();
    await svc.close();
  }
}

function withTrace(body: Body): Body {
  const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
  return { ...body, headers: { ...body.headers, traceparent } };
}

/** The same JPEG with distinct trailing bytes after its end marker: decoders ignore them, hashes differ. */
function distinct(body: Body, count: number): Body[] {
  const image = exampleImages().find((i) => i.name === 'rocket.jpg')!;
  return Array.from({ length: count }, (_, i) =>
    multipartBody({ name: `${body.name}-${i}`, bytes: Buffer.concat([image.bytes, randomBytes(16)]) }),
  );
}

const summary = (p: PointResult) => ({
  throughput: Math.round(p.throughput * 10) / 10,
  p50: Math.round(p.latencyMs.p50 * 10) / 10,
  p99: Math.round(p.latencyMs.p99 * 10) / 10,
  errors: p.requests - p.ok,
});

const cpu = describeCpu();
console.log(`CPU: ${cpu}; ${ROUNDS} rounds of ${MEASURE_MS} ms, ${CONCURRENCY} in flight`);
const rocket = multipartBody(exampleImages().find((i) => i.name === 'rocket.jpg')!);

// Hashing: what the cache adds to every lookup before Redis is asked.
const hashing = exampleImages().map(({ name, bytes }) => {
  const n = 2000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) imageDigest(bytes);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  return { image: name, bytes: bytes.length, sha256Us: Math.round(us * 10) / 10 };
});
console.log('hashing', hashing);

const sink = await otlpSink();
const traced = Array.from({ length: 64 }, () => withTrace(rocket));
const tracing = { off: [] as PointResult[], on: [] as PointResult[] };
const cache = { hit: [] as PointResult[], missOn: [] as PointResult[], missOff: [] as PointResult[] };
const tracingOn = {
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
  OTEL_TRACES_SAMPLER: 'always_on',
  OTEL_BSP_SCHEDULE_DELAY: '200',
};
for (let round = 0; round < ROUNDS; round++) {
  tracing.off.push(await point({}, traced));
  tracing.on.push(await point(tracingOn, traced));
  const unique = distinct(rocket, 20_000);
  cache.missOff.push(await point({}, unique));
  cache.missOn.push(await point({ RESPONSE_CACHE: 'on' }, unique));
  cache.hit.push(await point({ RESPONSE_CACHE: 'on' }, [rocket], rocket));
  console.log(`round ${round + 1}`, {
    tracingOff: summary(tracing.off[round]!),
    tracingOn: summary(tracing.on[round]!),
    missCacheOff: summary(cache.missOff[round]!),
    missCacheOn: summary(cache.missOn[round]!),
    hit: summary(cache.hit[round]!),
  });
}
sink.close();

const ratio = (a: PointResult[], b: PointResult[]) =>
  Math.round(median(a.map((p, i) => p.throughput / b[i]!.throughput)) * 1000) / 1000;
const result = {
  cpu,
  rounds: ROUNDS,
  measureMs: MEASURE_MS,
  concurrency: CONCURRENCY,
  otlpExports: sink.exports(),
  hashing,
  tracing: {
    off: tracing.off.map(summary),
    on: tracing.on.map(summary),
    onOverOff: ratio(tracing.on, tracing.off),
    goal: 0.9,
  },
  cache: {
    hit: cache.hit.map(summary),
    missCacheOn: cache.missOn.map(summary),
    missCacheOff: cache.missOff.map(summary),
    hitOverMiss: ratio(cache.hit, cache.missOn),
    missCacheOnOverOff: ratio(cache.missOn, cache.missOff),
  },
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(new URL('results/trace-cache.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
