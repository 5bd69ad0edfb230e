/**
 * The gRPC tests' fixture: the real service (a private redis-server, a model host, a front end with gRPC on a free
 * port) serving two models, its log lines collected, and a gRPC client built from the .proto (grpc-client.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import type { Config } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { EXAMPLES, testConfig } from '../../scripts/lib/in-process-service.ts';
import { InferenceClient, type Outcome } from './grpc-client.ts';
import { ensureExampleModels } from '../../scripts/lib/example-models.ts';

export type Line = Record<string, unknown>;
export type Tensor = { name: string; datatype: string; shape: number[] };
export type InferResponse = {
  model_name: string;
  model_version: string;
  id: string;
  outputs: Tensor[];
  raw_output_contents: Buffer[];
};

export interface GrpcFixture {
  /** The settings the service runs with (as strings), for starting more front ends on it. */
  env: Record<string, string>;
  config: Config;
  redis: EmbeddedRedis;
  host: ModelHost;
  frontend: Frontend;
  client: InferenceClient;
  /** The front end's REST base URL. */
  url: string;
  /** Every log line, parsed. */
  lines: Line[];
  infer(request: object, opts?: Parameters<InferenceClient['call']>[2]): Promise<Outcome<InferResponse>>;
  close(): Promise<void>;
}

export async function startGrpcFixture(overrides: Record<string, string> = {}): Promise<GrpcFixture> {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const text of String(chunk).split('\n')) if (text) lines.push(JSON.parse(text));
      done();
    },
  });
  const env = {
    // Two models of different input sizes: the example repository (npm run models:examples; setup prepares only the default).
    MODEL_REPOSITORY: await ensureExampleModels(),
    MODELS: 'default,inception_v3',
    MAX_BATCH: '4',
    PORT: '0',
    KEY_PREFIX: `grpc-${randomBytes(4).toString('hex')}`,
    PREPROCESS_THREADS: '2',
    METRICS_PUSH_MS: '200',
    LOG_LEVEL: 'info',
    ...overrides,
  };
  const config = testConfig(env);
  const log = createLogger('test', config.LOG_LEVEL, sink);
  const redis = await startEmbeddedRedis();
  let host: ModelHost | undefined;
  try {
    host = await startModelHost(config, redis.url, log);
    const frontend = await startFrontend(config, redis.url, log);
    const client = new InferenceClient(`127.0.0.1:${frontend.grpcPort}`);
    return {
      env,
      config,
      redis,
      host,
      frontend,
      client,
      url: `http://127.0.0.1:${frontend.port}`,
      lines,
      infer: (request, opts) => client.call<InferResponse>('ModelInfer', request, opts),
      async close() {
        client.close();
        await frontend.close();
        await host!.close();
        await redis.stop();
      },
    };
  } catch (err) {
    await host?.close();
    await redis.stop();
    throw err;
  }
}

export const examples = async () => ({
  chelsea: await readFile(new URL('chelsea.png', EXAMPLES)),
  coffee: await readFile(new URL('coffee.png', EXAMPLES)),
});

export const bytesInput = (n: number) => ({ name: 'input', datatype: 'BYTES', shape: [n] });

/** The message of an OK outcome; fails the test with the status otherwise. */
export function ok<T>(o: Outcome<T>): T {
  assert.equal(o.code, status.OK, `${status[o.code]}: ${o.details}`);
  return o.message!;
}
