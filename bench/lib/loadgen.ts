/**
 * The load generator: undici keep-alive pool, POST /predict with multipart bodies rotating over the images.
 * Closed loop: N requests always in flight for a fixed time. Open loop: requests sent on a fixed schedule
 * regardless of answers, latency measured from the scheduled send time (no coordinated omission).
 */
import { setMaxListeners } from 'node:events';
import { Pool } from 'undici';
import type { Body } from './images.ts';
import { summarize } from './stats.ts';

export interface Sample {
  /** ms since the point started (scheduled send time for open loop). */
  at: number;
  ms: number;
  /** HTTP status, or an error name for transport failures. */
  status: number | string;
  ok: boolean;
}

export interface PointResult {
  mode: 'closed' | 'open' | 'stress';
  /** In-flight requests (closed loop) or offered rate in req/s (open loop). */
  concurrency?: number;
  offeredRps?: number;
  requests: number;
  ok: number;
  errorsByStatus: Record<string, number>;
  durationS: number;
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
}

/** What the loops drive: one request per call, resolving with its status (never rejecting). */
export interface Poster {
  post(signal?: AbortSignal): Promise<{ status: number | string; ok: boolean }>;
}

export class LoadClient implements Poster {
  readonly pool: Pool;
  private next = 0;

  /** `path`: /predict (optionally ?model=) or an Open Inference Protocol /v2/models/{name}/infer. */
  constructor(
    readonly origin: string,
    private readonly bodies: Body[],
    connections = 256,
    private readonly path = '/predict',
  ) {
    this.pool = new Pool(origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
  }

  /** One POST /predict; resolves with its status (never rejects). */
  /** `requestId`: sent as X-Request-Id, so the service's access line can be matched to this request. */
  async post(signal?: AbortSignal, requestId?: string): Promise<{ status: number | string; ok: boolean }> {
    const b = this.bodies[this.next++ % this.bodies.length]!;
    try {
      const res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: {
          'content-type': b.contentType,
          ...b.headers,
          ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
        },
        body: b.body,
        signal,
      });
      const text = await res.body.text();
      let ok = false;
      if (res.statusCode === 200) {
        try {
          const j = JSON.parse(text) as { success?: boolean; predictions?: unknown[]; outputs?: unknown[] };
          ok =
            (j.success === true && Array.isArray(j.predictions) && j.predictions.length > 0) ||
            (Array.isArray(j.outputs) && j.outputs.length > 0);
        } catch {
          /* not JSON */
        }
      }
      return { status: ok || res.statusCode !== 200 ? res.statusCode : '200-bad-body', ok };
    } catch (err) {
      const e = err as Error & { code?: string };
      return {
        status: e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED' ? 'client-timeout' : (e.code ?? e.name),
        ok: false,
      };
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

export function pointFrom(
  mode: PointResult['mode'],
  samples: Sample[],
  durationS: number,
  extra: Partial<PointResult>,
): PointResult {
  const errorsByStatus: Record<string, number> = {};
  for (const s of samples) if (!s.ok) errorsByStatus[String(s.status)] = (errorsByStatus[String(s.status)] ?? 0) + 1;
  const okSamples = samples.filter((s) => s.ok);
  // Latency percentiles over all answered requests (errors included: a 503 is still a latency the client sees).
  const lat = summarize(samples.map((s) => s.ms));
  return {
    mode,
    ...extra,
    requests: samples.length,
    ok: okSamples.length,
    errorsByStatus,
    durationS,
    throughput: okSamples.length / durationS,
    latencyMs: { p50: lat.p50, p90: lat.p90, p99: lat.p99, mean: lat.mean, max: lat.max },
  };
}

/**
 * `concurrency` requests always in flight. Warm-up lasts until `concurrency` requests have completed (the
 * pipeline has turned over once; at most 15 s); then answers completing within the window are measured, the
 * window lasting `measureMs` and at least until `minSamples` answers (at most 20 s). Outstanding requests are
 * then awaited, so the next point starts on an idle server.
 */
export async function closedLoop(
  client: Poster,
  concurrency: number,
  measureMs: number,
  minSamples: number,
  onTick?: (done: number) => void,
): Promise<PointResult> {
  const samples: Sample[] = [];
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
  let warmDone = 0;
  let t0 = performance.now();
  const worker = async () => {
    while (phase !== 'stop') {
      const start = performance.now();
      const r = await client.post();
      const now = performance.now();
      if (phase === 'warmup') warmDone++;
      else if (phase === 'measure') {
        samples.push({ at: start - t0, ms: now - start, ...r });
        onTick?.(samples.length);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  const started = performance.now();
  while (warmDone < concurrency && performance.now() - started < 15_000) await new Promise((r) => setTimeout(r, 20));
  phase = 'measure';
  t0 = performance.now();
  while (true) {
    const elapsed = performance.now() - t0;
    if ((elapsed >= measureMs && samples.length >= minSamples) || elapsed >= 20_000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  phase = 'stop';
  const durationS = (performance.now() - t0) / 1000;
  await Promise.all(workers);
  return pointFrom('closed', samples, durationS, { concurrency });
}

/**
 * `rps` requests a second for `sendMs`, then up to `drainMs` for the last answers (the rest count as
 * client-timeout). Throughput = successes / (time from the first send to the last answer).
 */
export async function openLoop(
  client: LoadClient,
  rps: number,
  sendMs: number,
  drainMs: number,
  mode: 'open' | 'stress' = 'open',
  onTick?: (done: number) => void,
): Promise<PointResult> {
  const total = Math.max(1, Math.round((rps * sendMs) / 1000));
  const interval = 1000 / rps;
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const samples: Sample[] = [];
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  let lastDone = t0;
  for (let i = 0; i < total; i++) {
    const scheduled = t0 + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      client.post(abort.signal).then((r) => {
        const now = performance.now();
        lastDone = Math.max(lastDone, now);
        samples.push({ at: scheduled - t0, ms: now - scheduled, ...r });
        onTick?.(samples.length);
      }),
    );
  }
  const timer = setTimeout(() => abort.abort(), drainMs);
  await Promise.all(inflight);
  clearTimeout(timer);
  return pointFrom(mode, samples, (lastDone - t0) / 1000, mode === 'open' ? { offeredRps: rps } : { offeredRps: rps });
}
