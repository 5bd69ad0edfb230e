/**
 * Deployment-wide metrics. Under SO_REUSEPORT several front ends share one port, so a scrape reaches one of
 * them at random; per-process /metrics would show a random slice. Instead every process (front end or model
 * host) pushes its registry snapshot (`getMetricsAsJSON()`) to Redis every METRICS_PUSH_MS (the keys and the
 * encoding: src/wire/metrics-snapshot.ts), and whichever front end is scraped reads the live snapshots (its own taken fresh) and sums them with
 * prom-client's AggregatorRegistry.aggregate(). Deployment-level gauges (queue depth, pending, live hosts) are
 * read at scrape time by their owners (the caller's readState) and added once, not summed. A process that exits takes its counts with it
 * (the sums drop, which Prometheus' rate() treats as a counter reset).
 */
import type { RedisClient } from '../redis/connect.ts';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { METRIC_PREFIX } from './metrics.ts';
import type { Keys } from '../wire/keys.ts';
import { decodeSnapshot, encodeSnapshot, metricsKeys, type MetricsSnapshot } from '../wire/metrics-snapshot.ts';

export class MetricsPublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly k;

  constructor(
    private readonly redis: RedisClient,
    keys: Keys,
    readonly processId: string,
    private readonly registry: Registry,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly onError: () => void = () => {},
  ) {
    this.k = metricsKeys(keys);
  }

  start(): void {
    const push = () =>
      this.push().catch((err: Error) => {
        this.onError();
        this.log.debug({ err: err.message }, 'metrics push failed');
      });
    void push();
    this.timer = setInterval(push, this.intervalMs);
    this.timer.unref();
  }

  /** Stops pushing and withdraws the snapshot (the process's counts leave the sums). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.redis
      .multi()
      .zrem(this.k.procs, this.processId)
      .del(this.k.snapshot(this.processId))
      .exec()
      .catch(() => {});
  }

  async push(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    const snapshot = encodeSnapshot(await this.registry.getMetricsAsJSON());
    const now = Date.now();
    const ttl = Math.max(this.intervalMs * 3, 1000);
    await this.redis
      .multi()
      .set(this.k.snapshot(this.processId), snapshot, 'PX', ttl)
      .zadd(this.k.procs, now + ttl, this.processId)
      .zremrangebyscore(this.k.procs, '-inf', now)
      .exec();
  }
}

export interface ScrapeResult {
  text: string;
  contentType: string;
  /** Processes whose snapshot was summed (this one included). */
  processes: number;
}

/** What the front end reads from Redis at scrape time, added once to the sums (not summed). */
export interface DeploymentState {
  liveHosts: number;
  queues: ReadonlyArray<{ serving: string; depth: number; pending: number }>;
}

/**
 * The deployment's metrics as Prometheus text: live snapshots summed, plus the scrape-time gauges of `state`
 * (read by the front end from the registry and the request streams, their owners). If Redis is unreachable it
 * still answers, with this process's own metrics and classify_metrics_processes 1.
 */
export async function scrapeDeployment(
  redis: RedisClient,
  keys: Keys,
  own: { id: string; registry: Registry },
  readState: () => Promise<DeploymentState>,
): Promise<ScrapeResult> {
  const k = metricsKeys(keys);
  const snapshots: MetricsSnapshot[] = [await own.registry.getMetricsAsJSON()];
  let state: DeploymentState | undefined;
  try {
    const [ids, read] = await Promise.all([redis.zrangebyscore(k.procs, Date.now(), '+inf'), readState()]);
    const others = ids.filter((id) => id !== own.id);
    const raw = others.length > 0 ? await redis.mget(...others.map((id) => k.snapshot(id))) : [];
    for (const json of raw) {
      const snapshot = decodeSnapshot(json); // undefined: expired between the two reads, torn or foreign
      if (snapshot) snapshots.push(snapshot);
    }
    state = read;
  } catch {
    // Redis down: answer with what this process knows; the redis errors counter says why.
    snapshots.length = 1;
  }
  const scrape = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [scrape] });
  if (state) {
    gauge('model_hosts_live', 'Model hosts with a fresh heartbeat.').set(state.liveHosts);
    const depth = gauge(
      'queue_depth',
      "Entries in a model's request stream (queued or being processed, not yet acknowledged): XLEN.",
      ['model'],
    );
    const pending = gauge(
      'queue_pending',
      'Requests of a model delivered to a model host and not yet acknowledged: XPENDING count.',
      ['model'],
    );
    for (const q of state.queues) {
      depth.labels(q.serving).set(q.depth);
      pending.labels(q.serving).set(q.pending);
    }
  }
  gauge('metrics_processes', 'Processes whose metrics this scrape summed.').set(snapshots.length);
  const aggregated = AggregatorRegistry.aggregate(snapshots);
  const text = (await aggregated.metrics()) + (await scrape.metrics());
  return { text, contentType: aggregated.contentType, processes: snapshots.length };
}
