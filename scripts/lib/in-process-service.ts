/**
 * Test fixtures: a private redis-server per test file, and the real service (model host + front end) started
 * in-process against it on a free port. Teardown is registered by the caller with t.after / after().
 */
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startModelHost, type ModelHost, type ModelHostEvents } from '../../src/host/model-host.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { randomBytes } from 'node:crypto';

export interface TestService {
  url: string;
  config: Config;
  redis: EmbeddedRedis;
  host: ModelHost;
  frontend: Frontend;
  close(): Promise<void>;
}

/**
 * loadConfig for tests: HTTP_SERVER comes from the environment, so every suite runs against either server; the
 * default model alone (a repository of one) unless the test names a repository, so suites stay light.
 */
export function testConfig(env: Record<string, string>): Config {
  const model = env.MODEL_REPOSITORY ? {} : { MODEL_DIR: 'models/default' };
  // gRPC on a free port: the default (8001) would collide between test files running side by side.
  return loadConfig({ HTTP_SERVER: process.env.HTTP_SERVER ?? '', GRPC_PORT: '0', ...model, ...env });
}

/**
 * Starts redis + model host + front end. `env` overrides settings (strings, as in process.env); the HTTP server
 * is HTTP_SERVER from the environment, so one suite runs against either server (npm run test:http-node).
 */
export async function startTestService(
  env: Record<string, string> = {},
  existingRedis?: EmbeddedRedis,
  events: ModelHostEvents = {},
): Promise<TestService> {
  const config = testConfig({
    PORT: '0',
    KEY_PREFIX: `test-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PREPROCESS_THREADS: '2',
    ...env,
  });
  const redis =
    existingRedis ??
    (await startEmbeddedRedis({
      maxQueueBytes: config.MAX_QUEUE_BYTES,
      responseCacheBytes: config.RESPONSE_CACHE_MAX_BYTES,
    }));
  const log = createLogger('test', config.LOG_LEVEL);
  let host: ModelHost | undefined;
  try {
    host = await startModelHost(config, redis.url, log, events);
    const frontend = await startFrontend(config, redis.url, log);
    let closing: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${frontend.port}`,
      config,
      redis,
      host,
      frontend,
      close: () =>
        (closing ??= (async () => {
          await frontend.close();
          await host!.close();
          if (!existingRedis) await redis.stop();
        })()),
    };
  } catch (err) {
    await host?.close();
    if (!existingRedis) await redis.stop();
    throw err;
  }
}

export const EXAMPLES = new URL('../../examples/', import.meta.url);

/** Posts one file as multipart field `image`, the original API's contract. */
export async function postImage(
  url: string,
  bytes: Uint8Array,
  opts: { filename?: string; type?: string; query?: string; field?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const form = new FormData();
  form.append(
    opts.field ?? 'image',
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: opts.type ?? 'application/octet-stream' }),
    opts.filename ?? 'upload',
  );
  return fetch(`${url}/predict${opts.query ?? ''}`, { method: 'POST', body: form, headers: opts.headers ?? {} });
}
