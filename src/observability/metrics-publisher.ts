/**
 * Deployment-wide metrics. Under SO_REUSEPORT several front ends share one port, so a scrape reaches one of
 * them at random; per-process /metrics would show a random slice. Instead every process (front end or model
 * host) pushes its registry snapshot (`getMetricsAsJSON()`) to Redis every METRICS_PUSH_MS (the keys and the
 * encoding: src/wire/metrics-snapshot.ts), and whichever front end is scraped reads the live snapshots (its own taken fresh) and sums them with
 * prom-client's AggregatorRegistry.aggregate(). Deployment-level gauges (queue depth, pending, live hosts) are
 * read from Redis at scrape time and added once, not summed. A process that exits takes its counts with it
 * (the sums drop, which Prometheus' rate() treats as a counter reset).
 */
import type { RedisClient } from '../redis/connect.ts';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { METRIC_PREFIX } from './metrics.ts';
import { CONSUMER_GROUP, modelKeys, type Keys } from '../wire/keys.ts';
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

/**
 * The deployment's metrics as Prometheus text: live snapshots summed, plus scrape-time gauges. If Redis is
 * unreachable it still answers, with this process's own metrics and classify_metrics_processes 1.
 */
export async function scrapeDeployment(
  redis: RedisClient,
  keys: Keys,
  own: { id: string; registry: Registry },
  models: readonly string[],
): Promise<ScrapeResult> {
  const k = metricsKeys(keys);
  const snapshots: MetricsSnapshot[] = [await own.registry.getMetricsAsJSON()];
  const scrape = new Registry();
  const gauge = (name: string, help: string, value: number | undefined) => {
    if (value === undefined) return;
    new Gauge({ name: `${METRIC_PREFIX}${name}`, help, registers: [scrape] }).set(value);
  };
  const perModel = (name: string, help: string) =>
    new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames: ['model'] as const, registers: [scrape] });
  let liveHosts: number | undefined;
  try {
    const now = Date.now();
    // One MULTI per slot: the registry's, then each model's request shard (a cluster refuses cross-slot transactions).
    type Reply = [Error | null, unknown];
    const perShard = models.flatMap((model) => modelKeys(keys, model).shards.map((shard) => ({ model, shard })));
    const [registry, ...shards] = await Promise.all([
      redis.multi().zrangebyscore(k.procs, now, '+inf').zcount(keys.registry, now, '+inf').exec(),
      ...perShard.map(({ shard }) =>
        redis.multi().xlen(shard.requests).xpending(shard.requests, CONSUMER_GROUP).exec(),
      ),
    ]);
    if (registry?.length !== 2) throw new Error('MULTI answered without its two replies');
    const [[, ids], [, hosts]] = registry as [Reply, Reply];
    liveHosts = Number(hosts);
    const depth = perModel(
      'queue_depth',
      "Entries in a model's request stream (queued or being processed, not yet acknowledged): XLEN.",
    );
    const pending = perModel(
      'queue_pending',
      'Requests of a model delivered to a model host and not yet acknowledged: XPENDING count.',
    );
    for (const model of models) {
      depth.labels(model).set(0);
      pending.labels(model).set(0);
    }
    shards.forEach((reply, i) => {
      if (reply?.length !== 2) throw new Error('MULTI answered without its two replies');
      const [[, xlen], [pendErr, pend]] = reply as [Reply, Reply];
      const { model } = perShard[i]!;
      depth.labels(model).inc(Number(xlen));
      // NOGROUP until the first host serving the model has started: nothing can be pending then.
      if (!pendErr) pending.labels(model).inc(Number((pend as [number])[0] ?? 0));
    });
    const others = (ids as string[]).filter((id) => id !== own.id);
    if (others.length > 0) {
      const raw = await redis.mget(...others.map((id) => k.snapshot(id)));
      for (const json of raw) {
        const snapshot = decodeSnapshot(json); // undefined: expired between the two reads, torn or foreign
        if (snapshot) snapshots.push(snapshot);
      }
    }
  } catch {
    // Redis down: answer with what this process knows; the redis errors counter says why.
  }
  gauge('model_hosts_live', 'Model hosts with a fresh heartbeat.', liveHosts);
  gauge('metrics_processes', 'Processes whose metrics this scrape summed.', snapshots.length);
  const aggregated = AggregatorRegistry.aggregate(snapshots);
  const text = (await aggregated.metrics()) + (await scrape.metrics());
  return { text, contentType: aggregated.contentType, processes: snapshots.length };
}
