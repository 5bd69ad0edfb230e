/**
 * OpenTelemetry tracing across the Redis hop, received by an in-process OTLP receiver (test/helpers/otlp-receiver.ts)
 * from the real service: a request with a W3C traceparent gives one trace whose server span is the caller's child
 * and whose host spans (queue wait, preprocess, inference, publish) are the server span's children, from another
 * resource (role model-host). Both OTLP protocols; an error recorded with its code; an unsampled caller is not
 * traced on either side; and with no exporter configured, or OTEL_SDK_DISABLED=true, no OpenTelemetry SDK module
 * is even loaded (a child process counts them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';
import {
  assertOneTrace,
  callerContext as caller,
  HOST_SPANS,
  startOtlpReceiver,
  traceOf,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../helpers/otlp-receiver.ts';
import { bytesInfer } from '../helpers/oip.ts';
import { InferenceClient, serializeBytes } from '../helpers/grpc-client.ts';

/** One trace across Redis, its server span from this very process (the service runs in-process). */
function assertJoined(spans: ReceivedSpan[], serverName: string, callerSpanId: string): ReceivedSpan {
  const server = assertOneTrace(spans, serverName, callerSpanId);
  assert.equal(server.resource['process.pid'], process.pid);
  return server;
}

describe('tracing (OTLP http/protobuf), POST /predict', () => {
  let receiver: OtlpReceiver;
  let svc: TestService;
  let chelsea: Buffer;
  before(async () => {
    receiver = await startOtlpReceiver();
    svc = await startTestService({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      GRPC_PORT: '0',
    });
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(async () => {
    await svc?.close();
    await receiver?.close();
  });

  it("one trace: the front end's server span under the caller's, decode and inference under it from the host", async () => {
    const c = caller();
    const res = await postImage(svc.url, chelsea, { headers: { traceparent: c.traceparent, tracestate: 'vendor=7' } });
    assert.equal(res.status, 200);
    const spans = await traceOf(receiver, c.traceId, ['POST /predict', 'admission', ...HOST_SPANS]);
    const server = assertJoined(spans, 'POST /predict', c.spanId);
    assert.equal(server.attributes['http.route'], '/predict');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['classify.model'], 'default');
    assert.equal(server.attributes['classify.model.version'], 1);
    assert.ok(Number(server.attributes['http.request.body.size']) > chelsea.length);
    assert.ok(Number(server.attributes['http.response.body.size']) > 0);
    const inference = spans.find((s) => s.name === 'inference')!;
    assert.ok(Number(inference.attributes['classify.batch.size']) >= 1);
    assert.equal(spans.find((s) => s.name === 'preprocess')!.traceState, 'vendor=7', 'tracestate crossed Redis');
    assert.equal(spans.find((s) => s.name === 'queue wait')!.kind, 5, 'CONSUMER');
    assert.ok(receiver.spans.every((s) => s.protocol === 'protobuf'));
    assert.ok(receiver.requests.every((path) => path === '/v1/traces'));
  });

  it('gRPC ModelInfer: the traceparent metadata is honoured the same way', async () => {
    const c = caller();
    const client = new InferenceClient(`127.0.0.1:${svc.frontend.grpcPort}`);
    try {
      const input = { name: 'input', datatype: 'BYTES', shape: [1] };
      const request = { model_name: 'default', inputs: [input], raw_input_contents: [serializeBytes([chelsea])] };
      const out = await client.call('ModelInfer', request, { metadata: { traceparent: c.traceparent } });
      assert.equal(out.code, 0, out.details);
    } finally {
      client.close();
    }
    const name = 'inference.GRPCInferenceService/ModelInfer';
    const server = assertJoined(await traceOf(receiver, c.traceId, [name, 'admission', ...HOST_SPANS]), name, c.spanId);
    assert.equal(server.attributes['rpc.grpc.status_code'], 0);
    assert.equal(server.attributes['classify.model'], 'default');
  });
});

describe('tracing (OTLP http/json, traces endpoint), /v2 infer', () => {
  let receiver: OtlpReceiver;
  let svc: TestService;
  let chelsea: Buffer;
  before(async () => {
    receiver = await startOtlpReceiver();
    svc = await startTestService({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/custom/traces`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_SERVICE_NAME: 'classify-under-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=vision%20ops',
    });
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(async () => {
    await svc?.close();
    await receiver?.close();
  });
  const infer = (image: Uint8Array, traceparent: string) => {
    const { body, headers } = bytesInfer([image]);
    return fetch(`${svc.url}/v2/models/default/infer`, {
      method: 'POST',
      body: new Uint8Array(body),
      headers: { ...headers, traceparent },
    });
  };

  it('one trace across Redis, and the resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES', async () => {
    const c = caller();
    assert.equal((await infer(chelsea, c.traceparent)).status, 200);
    const spans = await traceOf(receiver, c.traceId, ['POST /v2/models/{name}/infer', 'admission', ...HOST_SPANS]);
    const server = assertJoined(spans, 'POST /v2/models/{name}/infer', c.spanId);
    assert.equal(server.resource['service.name'], 'classify-under-test');
    assert.equal(server.resource.team, 'vision ops');
    assert.equal(server.resource['deployment.environment'], 'test');
    assert.ok(receiver.spans.every((s) => s.protocol === 'json'));
    assert.ok(receiver.requests.every((path) => path === '/custom/traces'));
  });

  it('an image the host cannot decode: its preprocess span is an error with the code, the server span says it', async () => {
    const c = caller();
    const broken = Buffer.concat([chelsea.subarray(0, 64), Buffer.alloc(256, 7)]);
    const res = await infer(broken, c.traceparent);
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    const spans = await traceOf(receiver, c.traceId, ['POST /v2/models/{name}/infer', 'preprocess', 'publish']);
    const preprocess = spans.find((s) => s.name === 'preprocess')!;
    assert.equal(preprocess.statusCode, 2, 'ERROR');
    const code = preprocess.attributes['classify.error.code'];
    assert.ok(typeof code === 'string' && code.length > 0);
    const server = spans.find((s) => s.name === 'POST /v2/models/{name}/infer')!;
    assert.equal(server.attributes['classify.error.code'], code);
    assert.equal(server.attributes['http.response.status_code'], res.status);
  });

  it('a caller that did not sample (flags 00) is traced on neither side', async () => {
    const unsampled = caller(false);
    assert.equal((await infer(chelsea, unsampled.traceparent)).status, 200);
    const later = caller();
    assert.equal((await infer(chelsea, later.traceparent)).status, 200);
    await traceOf(receiver, later.traceId, ['POST /v2/models/{name}/infer', ...HOST_SPANS]);
    assert.equal(receiver.spans.filter((s) => s.traceId === unsampled.traceId).length, 0);
  });
});

describe('tracing off', () => {
  // Two receivers, so that the three children can run at once: the disabled one must send nothing to its own.
  let disabledReceiver: OtlpReceiver;
  let onReceiver: OtlpReceiver;
  before(async () => {
    disabledReceiver = await startOtlpReceiver();
    onReceiver = await startOtlpReceiver();
  });
  after(async () => {
    await disabledReceiver?.close();
    await onReceiver?.close();
  });

  /** Runs test/helpers/tracing-child.ts: the service in a fresh process, one request, its count of SDK modules. */
  const child = async (env: Record<string, string>) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/helpers/tracing-child.ts', JSON.stringify(env)],
      { timeout: 120_000, env: { ...process.env, LOG_LEVEL: 'silent' } },
    );
    return JSON.parse(stdout.trim().split('\n').pop()!) as { status: number; otelSdkModules: number };
  };

  it('no exporter configured, or OTEL_SDK_DISABLED=true: no OpenTelemetry SDK module is loaded, nothing is sent', async () => {
    const [none, disabled, on] = await Promise.all([
      child({}),
      child({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: disabledReceiver.endpoint }),
      child({ OTEL_EXPORTER_OTLP_ENDPOINT: onReceiver.endpoint }),
    ]);
    assert.deepEqual(none, { status: 200, otelSdkModules: 0 });
    assert.deepEqual(disabled, { status: 200, otelSdkModules: 0 });
    assert.equal(disabledReceiver.spans.length, 0);
    // The same count with an exporter configured: the check can tell.
    assert.equal(on.status, 200);
    assert.ok(on.otelSdkModules > 10, `${on.otelSdkModules} modules with tracing on`);
    assert.ok(onReceiver.spans.length > 0, 'and spans arrive (flushed at close)');
  });
});
