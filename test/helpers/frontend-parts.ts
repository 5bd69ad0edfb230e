/**
 * A front end's parts without its HTTP server or a model host, for unit tests of its request path: a real Redis,
 * the real pending table, reply reader, metrics and model repository, routes on the in-memory HTTP seam, and a
 * stand-in host that answers request entries over the real wire format (or not at all).
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Config } from '../../src/config/config.ts';
import { PendingRequests } from '../../src/frontend/pending.ts';
import { ReplyReader } from '../../src/frontend/reply-reader.ts';
import { serverContext, type ServerContext } from '../../src/frontend/server-context.ts';
import { registerRoutes } from '../../src/frontend/server.ts';
import { openRepository } from '../../src/model/repository.ts';
import { FrontendMetrics } from '../../src/observability/metrics.ts';
import { connectRedis, whenReady, type RedisClient } from '../../src/redis/connect.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { decodeRequest, packResult, type RequestEnvelope, type Result } from '../../src/wire/envelope.ts';
import { CONSUMER_GROUP, RESULT_FIELD, keysFor, modelKeys, type Keys } from '../../src/wire/keys.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';
import { captureLogger, type LogLine } from './processes.ts';
import { MemoryServer } from './memory-server.ts';

/** A host's result without its id (reply() adds the request's). */
export type ResultBody = Result extends infer R ? (R extends Result ? Omit<R, 'id'> : never) : never;

export interface FrontendParts {
  /** The Redis server's URL, password included. */
  url: string;
  config: Config;
  redis: RedisClient;
  keys: Keys;
  ctx: ServerContext;
  http: MemoryServer;
  /** The front end's log lines (access lines included). */
  lines: LogLine[];
  /** Marks a model host live for `model`, so admission queues instead of answering NOT_READY. */
  hostLive(model?: string): Promise<void>;
  /** Takes `count` request entries of `model` as a host would; fewer if they do not all come within `blockMs`. */
  take(count: number, model?: string, blockMs?: number): Promise<RequestEnvelope[]>;
  /** Writes a host's result for a request to its front end's reply stream. */
  reply(env: RequestEnvelope, result: ResultBody): Promise<void>;
  close(): Promise<void>;
}

export async function startFrontendParts(env: Record<string, string> = {}): Promise<FrontendParts> {
  const config = testConfig({ KEY_PREFIX: `parts-${randomBytes(4).toString('hex')}`, ...env });
  const server: EmbeddedRedis = await startEmbeddedRedis();
  const quiet = pino({ level: 'silent' });
  const redis = connectRedis(server.url, 'parts', quiet);
  const blocking = connectRedis(server.url, 'parts:replies', quiet);
  const hostConn = connectRedis(server.url, 'parts:host', quiet);
  await Promise.all([whenReady(redis), whenReady(blocking), whenReady(hostConn)]);
  const keys = keysFor(config.KEY_PREFIX, config.REQUEST_SHARDS);
  const { log, lines } = captureLogger();
  const pending = new PendingRequests();
  const replyStream = keys.replies('parts');
  const replies = new ReplyReader(blocking, replyStream, pending, log);
  await replies.start();
  const metrics = new FrontendMetrics(() => pending.size);
  const repository = await openRepository(config);
  const ctx = serverContext({
    deployment: 'parts',
    config,
    redis,
    keys,
    replyStream,
    pending,
    log,
    metrics,
    isDraining: () => false,
    repository,
    scrapeMetrics: async () => ({ contentType: 'text/plain', text: '', processes: 1 }),
  });
  const http = new MemoryServer();
  registerRoutes(http, ctx);
  const grouped = new Set<string>();

  return {
    url: server.url,
    config,
    redis,
    keys,
    ctx,
    http,
    lines,
    async hostLive(model = repository.defaultModel) {
      for (const shard of modelKeys(keys, model).shards)
        await redis.zadd(shard.liveHosts, Date.now() + 600_000, 'stand-in-host');
    },
    async take(count, model = repository.defaultModel, blockMs = 5000) {
      const stream = modelKeys(keys, model).shards[0]!.requests;
      if (!grouped.has(stream)) {
        await hostConn.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM').catch(() => {});
        grouped.add(stream);
      }
      const taken: RequestEnvelope[] = [];
      const until = Date.now() + blockMs;
      while (taken.length < count && Date.now() < until) {
        const reply = (await hostConn.xreadgroupBuffer(
          'GROUP',
          CONSUMER_GROUP,
          'stand-in-host',
          'COUNT',
          count - taken.length,
          'BLOCK',
          Math.max(1, until - Date.now()),
          'STREAMS',
          stream,
          '>',
        )) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
        for (const [, fields] of reply?.[0]?.[1] ?? []) taken.push(decodeRequest(fields)!);
      }
      return taken;
    },
    async reply(env, result) {
      await redis.xadd(env.replyTo, '*', RESULT_FIELD, packResult({ ...result, id: env.id } as Result));
    },
    async close() {
      await replies.stop();
      for (const conn of [redis, blocking, hostConn]) conn.disconnect();
      await server.stop();
    },
  };
}
