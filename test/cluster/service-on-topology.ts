/**
 * The real service (model host + front end, in this process) on a given Redis target — a cluster or sentinels —
 * configured through the same variables a user sets, plus what the failover tests record and check.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { configuredRedisTarget, type RedisTarget } from '../../src/redis/connect.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { summarize, type Sample } from '../helpers/load.ts';
import { sleep, waitUntil } from '../helpers/processes.ts';

export interface ServiceOnTopology {
  url: string;
  config: Config;
  target: RedisTarget;
  host: ModelHost;
  frontend: Frontend;
  /** Another front end on the same deployment (e.g. naming another seed node). */
  addFrontend(env: Record<string, string>): Promise<Frontend>;
  close(): Promise<void>;
}

export async function startServiceOn(env: Record<string, string>): Promise<ServiceOnTopology> {
  const base = {
    PORT: '0',
    GRPC_PORT: '0',
    KEY_PREFIX: `t${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PREPROCESS_THREADS: '1',
    ...env,
  };
  const config = loadConfig(base);
  const target = configuredRedisTarget(config);
  if (!target) throw new Error('no redis configured');
  const log = createLogger('test', config.LOG_LEVEL);
  const extra: Frontend[] = [];
  const host = await startModelHost(config, target, log);
  let frontend: Frontend;
  try {
    frontend = await startFrontend(config, target, log);
  } catch (err) {
    await host.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${frontend.port}`,
    config,
    target,
    host,
    frontend,
    async addFrontend(more) {
      const c = loadConfig({ ...base, ...more });
      const fe = await startFrontend(c, configuredRedisTarget(c)!, log);
      extra.push(fe);
      return fe;
    },
    close: () =>
      (closing ??= (async () => {
        await Promise.allSettled([frontend.close(), ...extra.map((fe) => fe.close())]);
        await host.close();
      })()),
  };
}

export interface FailoverReport {
  counts: Record<string, number>;
  /** From the first to the last answer that was not 200, relative to the kill (ms); undefined if none. */
  window?: { fromMs: number; toMs: number };
  slowestMs: number;
  beyondDeadline: Sample[];
  unexpected: Sample[];
}

/** Classifies the samples of a failover run: only 200, 503 and 504 are allowed, none later than the deadline. */
export function failoverReport(
  samples: Sample[],
  killedAt: number,
  deadlineMs: number,
  slackMs = 1500,
): FailoverReport {
  const bad = samples.filter((s) => s.status !== 200);
  const report: FailoverReport = {
    counts: summarize(samples),
    slowestMs: Math.max(0, ...samples.map((s) => s.ms)),
    beyondDeadline: samples.filter((s) => s.ms > deadlineMs + slackMs),
    unexpected: samples.filter((s) => s.status !== 200 && s.status !== 503 && s.status !== 504),
  };
  if (bad.length > 0) {
    report.window = {
      fromMs: Math.min(...bad.map((s) => s.startedAt)) - killedAt,
      toMs: Math.max(...bad.map((s) => s.startedAt + s.ms)) - killedAt,
    };
  }
  return report;
}

/** True once the last `n` answers that started after `since` are all 200. */
export function servingNormally(samples: Sample[], since: number, n = 20): boolean {
  const recent = samples.filter((s) => s.startedAt >= since);
  return recent.length >= n && recent.slice(-n).every((s) => s.status === 200);
}

export interface FailoverRun {
  samples: Sample[];
  report: FailoverReport;
  promotedAfterMs: number;
  normalAfterMs: number;
  /** One line for the test's output: counts, promotion, recovery, the non-200 window and the slowest answer. */
  summary: string;
}

/**
 * After the kill: waits for the promotion, then for the service to answer normally, lets the load run a second
 * more, stops it and classifies what it got.
 */
export async function followFailover(
  load: { samples: Sample[]; stop(): Promise<Sample[]> },
  killedAt: number,
  promoted: () => Promise<boolean>,
  deadlineMs: number,
): Promise<FailoverRun> {
  await waitUntil(promoted, 30_000, 'a replica to be promoted');
  const promotedAt = Date.now();
  await waitUntil(
    () => servingNormally(load.samples, promotedAt),
    20_000,
    '20 answers in a row to be 200 after the promotion',
  );
  const normalAt = Date.now();
  await sleep(1000);
  const samples = await load.stop();
  const report = failoverReport(samples, killedAt, deadlineMs);
  const window = report.window ? `${report.window.fromMs}..${report.window.toMs} ms` : 'none';
  return {
    samples,
    report,
    promotedAfterMs: promotedAt - killedAt,
    normalAfterMs: normalAt - killedAt,
    summary:
      `${samples.length} requests ${JSON.stringify(report.counts)}; promoted after ${promotedAt - killedAt} ms; ` +
      `normal again ${normalAt - killedAt} ms after the kill; non-200 window ${window}; slowest ${report.slowestMs} ms`,
  };
}
