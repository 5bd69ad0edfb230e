/**
 * The response cache against a real redis-server, the real model host and the real default model's weights under
 * two names (cats; dogs with its labels rotated, so an answer tells which model gave it): hits and misses across
 * /predict, /v2, gRPC ModelInfer and topk with no batch run for a hit; identical bytes under two models; a new version; Redis
 * refusing the cache's keys (ACL) while the rest works; and the bound, measured with MEMORY USAGE.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';
import { waitUntil } from '../../scripts/lib/wait.ts';
import { defaultLabels, publishVersion } from '../helpers/versioned-repo.ts';
import { bytesInfer } from '../helpers/oip.ts';
import { InferenceClient, serializeBytes } from '../helpers/grpc-client.ts';
import { smallPng } from '../helpers/load.ts';
import { ENTRY_OVERHEAD_BYTES, ResponseCache } from '../../src/frontend/response-cache.ts';
import { responseCacheKeys } from '../../src/wire/response-cache.ts';
import { FrontendMetrics } from '../../src/observability/metrics.ts';
import { openRepository } from '../../src/model/repository.ts';
import { createLogger } from '../../src/observability/logger.ts';

type Predictions = Array<{ label: string; probability: number }>;

describe('response cache', () => {
  let svc: TestService;
  let dir: string;
  let admin: Redis;
  let chelsea: Buffer;
  let labels: string[];
  const batches: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cls-cache-'));
    await publishVersion(join(dir, 'repo', 'cats'), 1, 'normal');
    await publishVersion(join(dir, 'repo', 'dogs'), 1, 'rotated');
    labels = await defaultLabels();
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
    svc = await startTestService(
      {
        MODEL_REPOSITORY: join(dir, 'repo'),
        DEFAULT_MODEL: 'cats',
        RESPONSE_CACHE: 'on',
        ENGINE: 'onnx',
        REPOSITORY_POLL_S: '1',
        VERSION_SWITCH_GRACE_MS: '200',
      },
      undefined,
      { onBatch: (s) => batches.push(s.size) },
    );
    admin = new Redis(svc.redis.url);
  });
  after(async () => {
    admin?.disconnect();
    await svc?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const predict = async (image: Uint8Array, query: string): Promise<Predictions> => {
    const res = await postImage(svc.url, image, { query });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { predictions: Predictions }).predictions;
  };
  const infer = async (model: string, image: Uint8Array, outputs?: object[]) => {
    const { body, headers } = bytesInfer([image], outputs);
    const res = await fetch(`${svc.url}/v2/models/${model}/infer`, {
      method: 'POST',
      body: new Uint8Array(body),
      headers,
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { outputs: Array<{ data: Array<number | string> }> }).outputs[0]!.data;
  };
  /** One counter of /metrics (this front end's own registry is read live). */
  const metric = async (name: string, model: string): Promise<number> => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`classify_response_cache_${name}{model="${model}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('a miss runs on a host and is stored; then /predict with any topk and /v2 (FP32, classification) hit without a batch', async () => {
    const first = await predict(chelsea, '?model=cats&topk=5');
    assert.deepEqual([await metric('misses_total', 'cats'), await metric('hits_total', 'cats')], [1, 0]);
    await waitUntil(async () => (await metric('stored_bytes_total', 'cats')) > 0, 10_000, 'the entry stored');
    const ran = batches.length;

    assert.deepEqual(await predict(chelsea, '?model=cats&topk=2'), first.slice(0, 2));
    assert.deepEqual(await predict(chelsea, '?model=cats'), first, 'the default topk (5) from the same entry');
    const probabilities = await infer('cats', chelsea);
    assert.deepEqual(
      first.map((p) => probabilities[labels.indexOf(p.label)]),
      first.map((p) => p.probability),
      'the FP32 output is the vector the host computed',
    );
    const [top] = (await infer('cats', chelsea, [{ name: 'probabilities', parameters: { classification: 1 } }])) as [
      string,
    ];
    assert.equal(top, `${first[0]!.probability}:${labels.indexOf(first[0]!.label)}:${first[0]!.label}`);
    assert.equal(await metric('hits_total', 'cats'), 4);
    assert.equal(batches.length, ran, 'no batch ran for a hit');

    // Several images: the cached one is answered from the cache, the other goes to a host.
    const form = new FormData();
    for (const image of [chelsea, await smallPng(64, 1)])
      form.append('image', new Blob([new Uint8Array(image)]), 'x.png');
    const res = await fetch(`${svc.url}/predict?model=cats`, { method: 'POST', body: form });
    const body = (await res.json()) as { results: Array<{ success: boolean; predictions: Predictions }> };
    assert.deepEqual(body.results[0]!.predictions, first);
    assert.ok(body.results[1]!.success);
    assert.deepEqual([await metric('hits_total', 'cats'), await metric('misses_total', 'cats')], [5, 2]);
  });

  it('gRPC ModelInfer (BYTES) and /predict share entries: a hit either way, with the same probabilities', async () => {
    const client = new InferenceClient(`127.0.0.1:${svc.frontend.grpcPort}`);
    /** The probability vector gRPC returns (raw FP32, in label order). */
    const grpcInfer = async (image: Uint8Array): Promise<number[]> => {
      const request = {
        model_name: 'cats',
        inputs: [{ name: 'input', datatype: 'BYTES', shape: [1] }],
        raw_input_contents: [serializeBytes([image])],
      };
      const out = await client.call<{ raw_output_contents: Uint8Array[] }>('ModelInfer', request);
      assert.equal(out.code, 0, out.details);
      return Array.from(new Float32Array(new Uint8Array(out.message!.raw_output_contents[0]!).slice().buffer));
    };
    /** /predict's answer (all five labels) as the same vector. */
    const asVector = (predictions: Predictions) =>
      labels.map((l) => predictions.find((p) => p.label === l)!.probability);
    const counts = async (): Promise<[number, number]> => [
      await metric('hits_total', 'cats'),
      await metric('misses_total', 'cats'),
    ];
    const stored = async (before: number) =>
      waitUntil(async () => (await metric('stored_bytes_total', 'cats')) > before, 10_000, 'the entry stored');
    try {
      const [first, second] = [await smallPng(64, 21), await smallPng(64, 22)];
      let [hits, misses] = await counts();
      let bytes = await metric('stored_bytes_total', 'cats');
      const viaPredict = asVector(await predict(first, '?model=cats'));
      assert.deepEqual(await counts(), [hits, misses + 1], '/predict first: a miss');
      await stored(bytes);
      let ran = batches.length;
      assert.deepEqual(await grpcInfer(first), viaPredict, 'gRPC answers with the vector /predict stored');
      assert.deepEqual(await counts(), [hits + 1, misses + 1], 'then gRPC: a hit');
      assert.equal(batches.length, ran, 'no batch ran for the gRPC hit');

      [hits, misses] = await counts();
      bytes = await metric('stored_bytes_total', 'cats');
      const viaGrpc = await grpcInfer(second);
      assert.deepEqual(await counts(), [hits, misses + 1], 'gRPC first: a miss');
      await stored(bytes);
      ran = batches.length;
      assert.deepEqual(
        asVector(await predict(second, '?model=cats')),
        viaGrpc,
        '/predict answers with what gRPC stored',
      );
      assert.deepEqual(await counts(), [hits + 1, misses + 1], 'then /predict: a hit');
      assert.equal(batches.length, ran, 'no batch ran for the /predict hit');
    } finally {
      client.close();
    }
  });

  it('identical bytes under two models are two entries, each with its own answer', async () => {
    const cats = await predict(chelsea, '?model=cats');
    const dogs = await predict(chelsea, '?model=dogs');
    assert.equal(await metric('misses_total', 'dogs'), 1, "cats' entry is not dogs' answer");
    assert.notEqual(dogs[0]!.label, cats[0]!.label);
    assert.equal(dogs[0]!.probability, cats[0]!.probability, 'same weights, labels rotated');
    await waitUntil(async () => (await metric('stored_bytes_total', 'dogs')) > 0, 10_000, 'the dogs entry stored');
    assert.deepEqual(await predict(chelsea, '?model=dogs'), dogs);
    assert.equal(await metric('hits_total', 'dogs'), 1);
  });

  it('a new version never serves the old version’s answers', async () => {
    const v1 = await predict(chelsea, '?model=cats');
    const rotatedTop = (await predict(chelsea, '?model=dogs'))[0]!.label;
    const misses = await metric('misses_total', 'cats');
    await publishVersion(join(dir, 'repo', 'cats'), 2, 'rotated');
    let v2: Predictions | undefined;
    await waitUntil(
      async () => {
        const answer = await predict(chelsea, '?model=cats');
        if (answer[0]!.label !== v1[0]!.label) v2 = answer;
        return v2 !== undefined;
      },
      60_000,
      'answers from version 2',
    );
    assert.equal(v2![0]!.label, rotatedTop, "version 2's own labels");
    assert.equal(await metric('misses_total', 'cats'), misses + 1, "version 2's first answer was a miss");
    await waitUntil(async () => (await metric('stored_bytes_total', 'cats')) > 0, 10_000, 'stored');
    for (let i = 0; i < 3; i++) assert.deepEqual(await predict(chelsea, '?model=cats'), v2);
  });

  it('a Redis error on the cache path is a miss: the request is served normally and the error counted', async () => {
    const prefix = svc.config.KEY_PREFIX;
    const image = await smallPng(64, 2);
    const errors = await metric('errors_total', 'cats');
    const misses = await metric('misses_total', 'cats');
    // The default user keeps every key of the deployment but the cache's tag ({prefix:rc}): NOPERM there.
    await admin.call('ACL', 'SETUSER', 'default', 'resetkeys', `~{${prefix}}*`, `~{${prefix}:fe:*`);
    try {
      const answer = await predict(image, '?model=cats');
      assert.equal(answer.length, 5);
      await waitUntil(
        async () => (await metric('errors_total', 'cats')) === errors + 2,
        10_000,
        'lookup + store errors',
      );
      assert.equal(await metric('misses_total', 'cats'), misses + 1);
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', 'allkeys');
    }
    await predict(image, '?model=cats');
    assert.equal(await metric('misses_total', 'cats'), misses + 2, 'nothing was stored while Redis refused');
  });

  it('never holds more than RESPONSE_CACHE_MAX_BYTES: entries, index and counter measured with MEMORY USAGE', async () => {
    const bound = 64 * 1024;
    const prefix = `bound-${process.pid}`;
    const keys = responseCacheKeys(prefix);
    const metrics = new FrontendMetrics(() => 0);
    const config = { RESPONSE_CACHE: 'on', RESPONSE_CACHE_TTL_S: 3600, RESPONSE_CACHE_MAX_BYTES: bound } as const;
    const cache = new ResponseCache(admin, keys, config, metrics.cache, createLogger('test', 'silent'));
    const repository = await openRepository({ MODEL_REPOSITORY: join(dir, 'repo'), MODELS: 'dogs' });
    const scope = (await cache.scope(repository.get('dogs')!, 1))!;
    const vector = new Uint8Array(new Float32Array([0.1, 0.2, 0.3, 0.3, 0.1]).buffer);
    const entries = 600;
    for (let i = 0; i < entries; i++) cache.store(scope, `${scope.entryBase}${String(i).padStart(43, '0')}`, vector);
    const last = `${scope.entryBase}${String(entries - 1).padStart(43, '0')}`;
    await waitUntil(async () => (await admin.exists(last)) === 1, 10_000, 'every store applied');

    let used = 0;
    let stored = 0;
    for (const key of await admin.keys(`{${prefix}:rc}*`)) {
      used += Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      if (key.includes(':e:')) stored++;
    }
    const counted = Number(await admin.get(keys.bytes));
    assert.ok(counted <= bound, `counted ${counted} <= ${bound}`);
    assert.ok(
      used <= bound,
      `Redis uses ${used} bytes for ${stored} entries (key ${last.length} bytes), bound ${bound}, allowance ${ENTRY_OVERHEAD_BYTES}`,
    );
    assert.ok(used > bound / 2, `the allowance is not wildly pessimistic: ${used} of ${bound}`);
    assert.equal(await admin.zcard(keys.index), stored, 'the index lists exactly the entries held');
    assert.ok(stored > 50 && stored < entries, `${stored} entries kept`);
    assert.equal(await admin.exists(`${scope.entryBase}${'0'.padStart(43, '0')}`), 0, 'the oldest went first');
    assert.deepEqual((await cache.lookup(scope, Buffer.alloc(0))).scores, undefined);
    const evicted = (await metrics.cache.evictions.get()).values[0]?.value ?? 0;
    assert.equal(evicted, entries - stored);
  });
});
