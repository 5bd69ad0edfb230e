/**
 * Several models by name: a host serving the whole repository (three models of two input sizes, among them a
 * TF.js layers and a TF.js graph model, all converted to ONNX), /predict?model= routing, 404 for an unknown model,
 * 503 at once for a configured model no live host serves, /readyz per model, /v1/models and the model label in the
 * metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startModelHost, type ModelHost } from '../../src/host/model-host.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { EXAMPLES, postImage } from '../../scripts/lib/in-process-service.ts';
import { EXAMPLE_REPOSITORY, ensureExampleModels } from '../../scripts/lib/example-models.ts';

const MODELS = ['default', 'inception_v3', 'mobilenet_v2_mid'];
/** METRICS_KEY: /readyz's details (hosts per model, models without a host) are for operators. */
const OPERATOR_KEY = 'routing-operator-key-0123456789';
const operator = { headers: { authorization: `Bearer ${OPERATOR_KEY}` } };
type Prediction = { label: string; probability: number };

describe('several models by name', () => {
  let redis: EmbeddedRedis;
  let host: ModelHost | undefined;
  let frontend: Frontend | undefined;
  let url: string;
  let chelsea: Buffer;
  const env = {
    PORT: '0',
    GRPC_PORT: '0',
    KEY_PREFIX: `routing-${randomBytes(3).toString('hex')}`,
    MODEL_REPOSITORY: EXAMPLE_REPOSITORY,
    MAX_BATCH: '2',
    PREPROCESS_THREADS: '1',
    LOG_LEVEL: 'silent',
    METRICS_KEY: OPERATOR_KEY,
  };

  before(async () => {
    await ensureExampleModels();
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
    redis = await startEmbeddedRedis();
    // The front end serves the whole repository; this host only two of its models, so the third has no host.
    host = await startModelHost(
      loadConfig({ ...env, MODELS: 'default,inception_v3' }),
      redis.url,
      createLogger('test', 'silent'),
    );
    frontend = await startFrontend(loadConfig(env), redis.url, createLogger('test', 'silent'));
    url = `http://127.0.0.1:${frontend.port}`;
  });
  after(async () => {
    await frontend?.close();
    await host?.close();
    await redis?.stop();
  });

  it('routes ?model= to that model; without it /predict answers with the default model', async () => {
    const plain = (await (await postImage(url, chelsea)).json()) as { success: boolean; predictions: Prediction[] };
    const byDefault = (await (await postImage(url, chelsea, { query: '?model=default' })).json()) as typeof plain;
    const inception = await postImage(url, chelsea, { query: '?model=inception_v3' });
    assert.equal(inception.status, 200);
    const other = (await inception.json()) as typeof plain;
    assert.deepEqual(Object.keys(plain), ['success', 'predictions'], 'the original shape, nothing added');
    assert.deepEqual(plain, byDefault);
    assert.equal(other.predictions.length, plain.predictions.length);
    const probability = (r: typeof plain, label: string) => r.predictions.find((p) => p.label === label)!.probability;
    // Same labels (all nsfwjs models), different networks: the probabilities differ.
    assert.notEqual(probability(other, 'Neutral'), probability(plain, 'Neutral'));
  });

  it('404 MODEL_NOT_FOUND for a model that does not exist; 503 NOT_READY at once for one no live host serves', async () => {
    const unknown = await postImage(url, chelsea, { query: '?model=nope' });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'MODEL_NOT_FOUND');
    const started = Date.now();
    const hostless = await postImage(url, chelsea, { query: '?model=mobilenet_v2_mid' });
    assert.equal(hostless.status, 503);
    assert.equal(hostless.headers.get('retry-after'), '1');
    assert.equal((await hostless.json()).error.code, 'NOT_READY');
    assert.ok(Date.now() - started < 3000, 'answered at once, not at the deadline');
  });

  it('/readyz is not ready while a configured model has no live host, and names it', async () => {
    const res = await fetch(`${url}/readyz`, operator);
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.deepEqual(body.modelsWithoutHost, ['mobilenet_v2_mid']);
    assert.deepEqual(body.modelHosts.map((h: { model: string }) => h.model).sort(), ['default', 'inception_v3']);
    const v2Ready = await fetch(`${url}/v2/models/mobilenet_v2_mid/ready`);
    assert.equal(v2Ready.status, 503);
    assert.deepEqual(await v2Ready.json(), { name: 'mobilenet_v2_mid', ready: false });
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 503);
  });

  it('a second host serving the graph model (converted to ONNX) makes it routable and the deployment ready', async (t) => {
    const second = await startModelHost(
      loadConfig({ ...env, MODELS: 'mobilenet_v2_mid' }),
      redis.url,
      createLogger('test', 'silent'),
    );
    t.after(() => second.close());
    assert.equal(second.models()[0]!.engine.info.engine, 'onnx');
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    const res = await postImage(url, chelsea, { query: '?model=mobilenet_v2_mid&topk=2' });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).predictions.length, 2);

    const models = (await (await fetch(`${url}/v1/models`)).json()).models as Array<{
      name: string;
      engine: string;
      format: string;
      input: { height: number };
      hosts: number;
    }>;
    assert.deepEqual(
      models.map((m) => m.name),
      MODELS,
    );
    const byName = new Map(models.map((m) => [m.name, m]));
    assert.equal(byName.get('inception_v3')!.input.height, 299);
    assert.equal(byName.get('inception_v3')!.engine, 'onnx');
    assert.equal(byName.get('mobilenet_v2_mid')!.engine, 'onnx');
    for (const m of models) assert.equal(m.hosts, 1);
    // The Open Inference Protocol's model metadata says which engine serves the graph model.
    const v2 = await (await fetch(`${url}/v2/models/mobilenet_v2_mid`)).json();
    assert.equal(v2.platform, 'onnxruntime_onnx');
    assert.equal(v2.properties.engine, 'onnx');
    assert.deepEqual(v2.inputs[0].shape, [-1, 224, 224, 3]);
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);

    // Each host pushes its metrics every METRICS_PUSH_MS: wait for the second host's batch to be in the sum.
    let metrics = '';
    for (const until = Date.now() + 15_000; Date.now() < until; ) {
      metrics = await (await fetch(`${url}/metrics`, operator)).text();
      if (/classify_batch_size_count\{model="mobilenet_v2_mid"\} [1-9]/.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const model of ['default', 'inception_v3', 'mobilenet_v2_mid']) {
      assert.match(metrics, new RegExp(`classify_batch_size_count\\{model="${model}"\\} [1-9]`), `batches of ${model}`);
      assert.match(
        metrics,
        new RegExp(`classify_images_total\\{model="${model}",outcome="ok"\\} [1-9]`),
        `images of ${model}`,
      );
      assert.match(metrics, new RegExp(`classify_queue_depth\\{model="${model}"\\} 0`), `queue depth of ${model}`);
    }
  });
});
