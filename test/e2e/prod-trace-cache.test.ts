/**
 * Tracing and the response cache in prod mode: `npm run prod:up` (PM2 running the build in dist/, nginx in front)
 * with OTEL_EXPORTER_OTLP_ENDPOINT on an in-process OTLP receiver and RESPONSE_CACHE=on. A request through nginx
 * with a traceparent and a tracestate gives one trace whose spans come from a front-end process and a model-host
 * process (their resources name the role and the PM2 app's pid); the same image again is a cache hit, counted in
 * the deployment's /metrics. The same through nginx's gRPC server. Torn down in after(), even when a test fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { waitUntil } from '../../scripts/lib/wait.ts';
import { InferenceClient, serializeBytes } from '../helpers/grpc-client.ts';
import { smallPng } from '../helpers/load.ts';
import {
  assertOneTrace,
  callerContext,
  HOST_SPANS,
  startOtlpReceiver,
  traceOf,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../helpers/otlp-receiver.ts';
import { CHELSEA, classify, type Deployment, makeDeployment, pm2Apps, prodDown, prodUp } from './prod-helpers.ts';

describe('prod behind nginx: OpenTelemetry traces and the response cache', () => {
  let receiver: OtlpReceiver;
  let d: Deployment;
  let chelsea: Buffer;
  let client: InferenceClient;

  before(async () => {
    receiver = await startOtlpReceiver();
    d = await makeDeployment({
      FRONTENDS: '2',
      MODEL_HOSTS: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      RESPONSE_CACHE: 'on',
      METRICS_PUSH_MS: '200',
    });
    chelsea = await readFile(CHELSEA);
    await prodUp(d);
    client = new InferenceClient(d.nginxGrpc);
  });

  after(async () => {
    client?.close();
    try {
      await prodDown(d);
    } finally {
      await receiver?.close();
    }
  });

  /** A counter of the deployment's /metrics (every process's snapshot summed), read through nginx. */
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${d.nginxUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`classify_response_cache_${name}{model="default"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  /** The resource of each span names its role and a live PM2 app of that role by pid. */
  const assertProcesses = async (spans: ReceivedSpan[], server: ReceivedSpan) => {
    const apps = await pm2Apps(d);
    const pidsOf = (name: string) => apps.filter((a) => a.name === name).map((a) => a.pid);
    assert.ok(pidsOf('frontend').includes(Number(server.resource['process.pid'])), JSON.stringify(server.resource));
    const hostPids = pidsOf('model-host');
    for (const span of spans.filter((s) => HOST_SPANS.includes(s.name)))
      assert.ok(
        hostPids.includes(Number(span.resource['process.pid'])),
        `${span.name}: ${JSON.stringify(span.resource)}`,
      );
    assert.equal(server.resource['service.name'], 'image-classify-serving-frontend');
    assert.equal(
      spans.find((s) => s.name === 'inference')!.resource['service.name'],
      'image-classify-serving-model-host',
    );
  };

  it('/predict through nginx: one trace across a front-end and a model-host process, tracestate passed through', async () => {
    const c = callerContext();
    const res = await classify(d.nginxUrl, chelsea, { traceparent: c.traceparent, tracestate: 'vendor=7' });
    assert.equal(res.status, 200, await res.text());
    const spans = await traceOf(receiver, c.traceId, ['POST /predict', 'admission', ...HOST_SPANS]);
    const server = assertOneTrace(spans, 'POST /predict', c.spanId);
    assert.equal(server.traceState, 'vendor=7', 'nginx passed tracestate to the front end');
    assert.equal(spans.find((s) => s.name === 'preprocess')!.traceState, 'vendor=7', 'and it crossed Redis');
    await assertProcesses(spans, server);
  });

  it('the same image again through nginx is a cache hit in /metrics, and its trace says so', async () => {
    await waitUntil(async () => (await metric('stored_bytes_total')) > 0, 15_000, 'the entry stored');
    const hits = await metric('hits_total');
    const c = callerContext();
    const res = await classify(d.nginxUrl, chelsea, { traceparent: c.traceparent });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { predictions: Array<{ label: string }> };
    assert.equal(body.predictions[0]!.label, 'Neutral');
    await waitUntil(async () => (await metric('hits_total')) === hits + 1, 15_000, 'one more hit in /metrics');
    const spans = await traceOf(receiver, c.traceId, ['POST /predict', 'response cache lookup']);
    const lookup = spans.find((s) => s.name === 'response cache lookup')!;
    assert.equal(lookup.attributes['classify.cache.hits'], 1);
    assert.equal(lookup.parentSpanId, spans.find((s) => s.name === 'POST /predict')!.spanId);
  });

  it('gRPC ModelInfer through nginx: traceparent metadata passed through, and BYTES share the cache', async () => {
    const image = await smallPng(64, 31);
    const infer = async (traceparent: string) => {
      const request = {
        model_name: 'default',
        inputs: [{ name: 'input', datatype: 'BYTES', shape: [1] }],
        raw_input_contents: [serializeBytes([image])],
      };
      const out = await client.call<{ raw_output_contents: Uint8Array[] }>('ModelInfer', request, {
        metadata: { traceparent, tracestate: 'vendor=8' },
      });
      assert.equal(out.code, 0, out.details);
      return Buffer.from(out.message!.raw_output_contents[0]!);
    };
    const name = 'inference.GRPCInferenceService/ModelInfer';
    const c = callerContext();
    const stored = await metric('stored_bytes_total');
    const first = await infer(c.traceparent);
    const spans = await traceOf(receiver, c.traceId, [name, 'admission', ...HOST_SPANS]);
    const server = assertOneTrace(spans, name, c.spanId);
    assert.equal(server.traceState, 'vendor=8');
    await assertProcesses(spans, server);

    await waitUntil(async () => (await metric('stored_bytes_total')) > stored, 15_000, 'the entry stored');
    const hits = await metric('hits_total');
    assert.ok((await infer(callerContext().traceparent)).equals(first), 'the hit answers the same bits');
    await waitUntil(async () => (await metric('hits_total')) === hits + 1, 15_000, 'one more hit in /metrics');
  });
});
