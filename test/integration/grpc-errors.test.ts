/**
 * Open Inference Protocol over gRPC: what goes wrong, with its status code, the server staying up after each; the
 * limits (message size, timeout parameter, client deadline); request ids, access lines and metrics; API keys and
 * their rate limit; no live host. The answers themselves: grpc-protocol.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { newKey } from '../../src/auth/key-file.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { testConfig } from '../../scripts/lib/in-process-service.ts';
import { waitUntil } from '../helpers/processes.ts';
import { InferenceClient, serializeBytes } from '../helpers/grpc-client.ts';
import { bytesInput, examples, ok, startGrpcFixture, type GrpcFixture } from '../helpers/grpc-service.ts';

const BODY_LIMIT = 1024 * 1024;
const { status } = grpc;

describe('Open Inference Protocol (gRPC): errors, limits, keys, ids and metrics', () => {
  let svc: GrpcFixture;
  let chelsea: Buffer, coffee: Buffer;
  const infer = (request: object, opts = {}) => svc.infer(request, opts);
  const fp32Input = { name: 'input', datatype: 'FP32', shape: [1, 224, 224, 3] };
  const fp32Raw = () => Buffer.alloc(224 * 224 * 3 * 4);

  before(async () => {
    // No restart grace: the last test's closed host means no host at once (not a host expected back).
    svc = await startGrpcFixture({ BODY_LIMIT_BYTES: String(BODY_LIMIT), HOST_RESTART_GRACE_MS: '0' });
    ({ chelsea, coffee } = await examples());
  });
  after(() => svc?.close());

  it('bad input: INVALID_ARGUMENT, every length checked, and the server stays up', async () => {
    const len = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const cases: Array<[string, object]> = [
      [
        'raw and contents',
        {
          inputs: [{ ...bytesInput(1), contents: { bytes_contents: [chelsea] } }],
          raw_input_contents: [serializeBytes([chelsea])],
        },
      ],
      [
        'length prefix past the data',
        { inputs: [bytesInput(1)], raw_input_contents: [Buffer.concat([len(4000), chelsea.subarray(0, 10)])] },
      ],
      [
        'length prefix cut short',
        {
          inputs: [bytesInput(2)],
          raw_input_contents: [Buffer.concat([serializeBytes([chelsea]), Buffer.from([1, 0])])],
        },
      ],
      [
        'bytes after the elements',
        { inputs: [bytesInput(1)], raw_input_contents: [Buffer.concat([serializeBytes([chelsea]), Buffer.from([0])])] },
      ],
      [
        'a length of 2^32-1',
        { inputs: [bytesInput(1)], raw_input_contents: [Buffer.concat([len(0xffffffff), chelsea])] },
      ],
      ['FP32 bytes not matching the shape', { inputs: [fp32Input], raw_input_contents: [fp32Raw().subarray(0, 1000)] }],
      ['FP32 values not matching the shape', { inputs: [{ ...fp32Input, contents: { fp32_contents: [1, 2, 3] } }] }],
      [
        'a shape the model does not take',
        { inputs: [{ ...fp32Input, shape: [1, 224, 224, 2] }], raw_input_contents: [fp32Raw()] },
      ],
      ['more elements than the limit', { inputs: [bytesInput(17)], raw_input_contents: [serializeBytes([chelsea])] }],
      [
        'a shape of 2^40 elements',
        { inputs: [{ ...fp32Input, shape: [2 ** 40, 224, 224, 3] }], raw_input_contents: [fp32Raw()] },
      ],
      [
        'a dimension past 2^53',
        { inputs: [{ ...fp32Input, shape: ['18014398509481985', 224, 224, 3] }], raw_input_contents: [fp32Raw()] },
      ],
      [
        'a negative dimension',
        { inputs: [{ ...bytesInput(1), shape: [-1] }], raw_input_contents: [serializeBytes([chelsea])] },
      ],
      ['no data', { inputs: [bytesInput(1)] }],
      ['INT32 contents', { inputs: [{ ...fp32Input, contents: { int_contents: [1] } }] }],
      [
        'not an image',
        { inputs: [bytesInput(1)], raw_input_contents: [serializeBytes([Buffer.from('hello, world')])] },
      ],
      [
        'two inputs',
        {
          inputs: [bytesInput(1), bytesInput(1)],
          raw_input_contents: [serializeBytes([chelsea]), serializeBytes([chelsea])],
        },
      ],
      [
        'an unknown input',
        { inputs: [{ ...bytesInput(1), name: 'x' }], raw_input_contents: [serializeBytes([chelsea])] },
      ],
      [
        'an unknown output',
        { inputs: [bytesInput(1)], outputs: [{ name: 'logits' }], raw_input_contents: [serializeBytes([chelsea])] },
      ],
      [
        'classification 0',
        {
          inputs: [bytesInput(1)],
          outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 0 } } }],
          raw_input_contents: [serializeBytes([chelsea])],
        },
      ],
      [
        'classification as a string',
        {
          inputs: [bytesInput(1)],
          outputs: [{ name: 'probabilities', parameters: { classification: { string_param: '2' } } }],
          raw_input_contents: [serializeBytes([chelsea])],
        },
      ],
      [
        'a negative timeout',
        {
          parameters: { timeout: { int64_param: -5 } },
          inputs: [bytesInput(1)],
          raw_input_contents: [serializeBytes([chelsea])],
        },
      ],
    ];
    for (const [name, request] of cases) {
      const o = await infer({ model_name: 'default', ...request });
      assert.equal(o.code, status.INVALID_ARGUMENT, `${name}: ${status[o.code]} ${o.details}`);
      assert.match(o.details, /^[A-Z_]+: /, name);
    }
    // Not a ModelInferRequest at all: field 1 (model_name) claiming 100 bytes, then 3.
    const garbage = Buffer.from([0x0a, 100, 1, 2, 3]);
    const rawClient = new grpc.Client(`127.0.0.1:${svc.frontend.grpcPort}`, grpc.credentials.createInsecure());
    const malformed = await new Promise<grpc.ServiceError | null>((resolve) =>
      rawClient.makeUnaryRequest(
        '/inference.GRPCInferenceService/ModelInfer',
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbage,
        (err) => resolve(err),
      ),
    );
    rawClient.close();
    assert.equal(malformed?.code, status.INVALID_ARGUMENT, malformed?.details);
    assert.deepEqual(ok(await svc.client.call('ServerLive', {})), { live: true });
  });

  it('limits: a message over BODY_LIMIT_BYTES is RESOURCE_EXHAUSTED; a passed timeout or deadline DEADLINE_EXCEEDED', async () => {
    const big = await infer({
      model_name: 'default',
      inputs: [bytesInput(1)],
      raw_input_contents: [Buffer.alloc(BODY_LIMIT + 1)],
    });
    assert.equal(big.code, status.RESOURCE_EXHAUSTED, big.details);
    assert.equal(big.details, `BODY_TOO_LARGE: The request message is larger than ${BODY_LIMIT} bytes.`);
    const request = { model_name: 'default', inputs: [bytesInput(1)], raw_input_contents: [serializeBytes([coffee])] };
    const timeout = await infer({ ...request, parameters: { timeout: { int64_param: 1 } } });
    assert.equal(timeout.code, status.DEADLINE_EXCEEDED, timeout.details);
    assert.match(timeout.details, /^DEADLINE_EXCEEDED: /, 'answered by the service, not by grpc-js');
    const deadline = await infer(request, { deadlineMs: 5 });
    assert.equal(deadline.code, status.DEADLINE_EXCEEDED, deadline.details);
    assert.deepEqual(ok(await svc.client.call('ServerLive', {})), { live: true });
  });

  it('request ids in and out, one access line per call with protocol "grpc", metrics with protocol="grpc"', async () => {
    const good = await infer(
      { model_name: 'default', inputs: [bytesInput(1)], raw_input_contents: [serializeBytes([chelsea])] },
      { metadata: { 'x-request-id': 'grpc-req-1' } },
    );
    ok(good);
    assert.equal(good.headers.get('x-request-id')[0], 'grpc-req-1');
    assert.match(String(good.headers.get('x-served-by')[0]), /^fe-[0-9a-f]{8}$/);
    const missing = await svc.client.call(
      'ModelMetadata',
      { name: 'nope' },
      { metadata: { 'x-request-id': 'grpc-req-2' } },
    );
    assert.equal(missing.trailers.get('x-request-id')[0], 'grpc-req-2');
    const generated = await svc.client.call('ServerLive', {}, { metadata: { 'x-request-id': 'bad id with spaces' } });
    const id = String(generated.headers.get('x-request-id')[0]);
    assert.match(id, /^[0-9a-f-]{36}$/, 'an unacceptable id is replaced');

    const accessLines = (reqId: string) => svc.lines.filter((l) => l.reqId === reqId && 'status' in l);
    await waitUntil(() => accessLines('grpc-req-2').length > 0 && accessLines(id).length > 0, 10_000, 'access lines');
    const [line] = accessLines('grpc-req-1');
    assert.equal(accessLines('grpc-req-1').length, 1);
    assert.equal(line!.protocol, 'grpc');
    assert.equal(line!.method, 'ModelInfer');
    assert.equal(line!.route, '/v2/infer');
    assert.equal(line!.status, 200);
    assert.equal(line!.grpcStatus, 'OK');
    assert.equal(line!.model, 'default');
    const [notFound] = accessLines('grpc-req-2');
    assert.equal(notFound!.status, 404);
    assert.equal(notFound!.grpcStatus, 'NOT_FOUND');
    assert.equal(notFound!.code, 'MODEL_NOT_FOUND');
    const tooBig = svc.lines.find((l) => l.grpcStatus === 'RESOURCE_EXHAUSTED');
    assert.equal(tooBig?.status, 413, "grpc-js's own refusal has its access line too");
    assert.equal(tooBig?.code, 'BODY_TOO_LARGE');

    let text = '';
    await waitUntil(
      async () => {
        text = await (await fetch(`${svc.url}/metrics`)).text();
        return text.includes('classify_http_requests_total{route="/v2/infer",status="200",protocol="grpc"}');
      },
      10_000,
      'the gRPC series in /metrics',
    );
    assert.match(text, /classify_http_requests_total\{route="\/v2\/models",status="404",protocol="grpc"\} [1-9]/);
    assert.match(text, /classify_http_request_duration_seconds_count\{route="\/v2\/infer",protocol="grpc"\} [1-9]/);
  });

  describe('API keys', () => {
    let dir: string;
    let keyed: Frontend;
    let keyedClient: InferenceClient;
    const alice = newKey('alice');

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cls-grpc-keys-'));
      await writeFile(join(dir, 'keys'), `${alice.line}\n`);
      const keyedConfig = testConfig({
        ...svc.env,
        LOG_LEVEL: 'silent',
        API_KEYS_FILE: join(dir, 'keys'),
        KEY_RATE_LIMIT_RPS: '0.1',
        KEY_RATE_BURST: '2',
      });
      keyed = await startFrontend(keyedConfig, svc.redis.url, createLogger('test', 'silent'));
      keyedClient = new InferenceClient(`127.0.0.1:${keyed.grpcPort}`);
    });
    after(async () => {
      keyedClient?.close();
      await keyed?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('UNAUTHENTICATED without a key or with a wrong one; health and server metadata need none; RESOURCE_EXHAUSTED past the rate, saying when to retry', async () => {
      const request = {
        model_name: 'default',
        inputs: [bytesInput(1)],
        raw_input_contents: [serializeBytes([chelsea])],
      };
      for (const metadata of [
        {} as Record<string, string>,
        { authorization: `Bearer ${newKey('mallory').key}` },
        { authorization: 'Basic abc' },
      ]) {
        for (const [rpc, req] of [
          ['ModelInfer', request],
          ['ModelMetadata', { name: 'default' }],
          ['ModelReady', { name: 'default' }],
        ] as const) {
          const o = await keyedClient.call(rpc, req, { metadata });
          assert.equal(o.code, status.UNAUTHENTICATED, `${rpc} ${JSON.stringify(metadata)}: ${o.details}`);
          assert.match(String(o.trailers.get('www-authenticate')[0]), /^Bearer realm=/);
        }
      }
      for (const rpc of ['ServerLive', 'ServerReady', 'ServerMetadata']) ok(await keyedClient.call(rpc, {}));
      const withKey = { metadata: { authorization: `Bearer ${alice.key}` } };
      ok(await keyedClient.call('ModelInfer', request, withKey));
      ok(await keyedClient.call('ModelInfer', request, withKey));
      // Past the inference burst of 2: metadata and readiness spend their own bucket (off here), inference is limited.
      ok(await keyedClient.call('ModelMetadata', { name: 'default' }, withKey));
      ok(await keyedClient.call('ModelReady', { name: 'default' }, withKey));
      const limited = await keyedClient.call('ModelInfer', request, withKey);
      assert.equal(limited.code, status.RESOURCE_EXHAUSTED, limited.details);
      assert.match(limited.details, /^RATE_LIMITED: /);
      const retryS = Number(limited.trailers.get('retry-after')[0]);
      assert.ok(Number.isInteger(retryS) && retryS >= 1, `retry-after ${retryS}`);
      assert.equal(limited.trailers.get('grpc-retry-pushback-ms')[0], String(retryS * 1000));
    });
  });

  it('no live model host: UNAVAILABLE, saying when to retry', async () => {
    await svc.host.close();
    const o = await infer({
      model_name: 'default',
      inputs: [bytesInput(1)],
      raw_input_contents: [serializeBytes([chelsea])],
    });
    assert.equal(o.code, status.UNAVAILABLE, o.details);
    assert.match(o.details, /^NOT_READY: /);
    assert.equal(o.trailers.get('retry-after')[0], '1');
    assert.equal(o.trailers.get('grpc-retry-pushback-ms')[0], '1000');
    assert.deepEqual(ok(await svc.client.call('ModelReady', { name: 'default' })), { ready: false });
    assert.deepEqual(ok(await svc.client.call('ServerReady', {})), { ready: false });
  });
});
