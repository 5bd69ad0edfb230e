/**
 * GET /metrics: Prometheus text, and deployment-wide. Two front ends and a model host share one Redis; requests
 * go to both front ends, and a scrape of either shows the sum over all three processes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createLogger } from '../../src/observability/logger.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

/** Parses Prometheus text into `name{labels}` → value (labels as printed by prom-client). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(url: string): Promise<{ text: string; m: Map<string, number> }> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, m: parse(text) };
}

/** Polls until `check` passes on a scrape (snapshots arrive every METRICS_PUSH_MS). */
async function eventually(
  url: string,
  check: (m: Map<string, number>) => boolean,
  what: string,
): Promise<Map<string, number>> {
  const until = Date.now() + 15_000;
  let last = new Map<string, number>();
  while (Date.now() < until) {
    last = (await scrape(url)).m;
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}; last scrape: ${JSON.stringify([...last].filter(([k]) => k.startsWith('classify_')))}`);
}

describe('GET /metrics', () => {
  let svc: TestService;
  let second: Frontend;
  let secondUrl: string;
  let chelsea: Buffer;
  before(async () => {
    svc = await startTestService({ METRICS_PUSH_MS: '200' });
    second = await startFrontend(svc.config, svc.redis.url, createLogger('test-2', 'silent'));
    secondUrl = `http://127.0.0.1:${second.port}`;
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
  });
  after(async () => {
    await second?.close();
    await svc?.close();
  });

  it('declares every documented metric with its type, prefixed classify_', async () => {
    const { text } = await scrape(svc.url);
    const types = Object.fromEntries([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    const expected: Record<string, string> = {
      classify_http_requests_total: 'counter',
      classify_http_request_duration_seconds: 'histogram',
      classify_images_total: 'counter',
      classify_images_per_request: 'histogram',
      classify_frontend_in_flight: 'gauge',
      classify_redis_errors_total: 'counter',
      classify_batch_size: 'histogram',
      classify_inference_duration_seconds: 'histogram',
      classify_batch_forming_duration_seconds: 'histogram',
      classify_preprocess_duration_seconds: 'histogram',
      classify_requests_reclaimed_total: 'counter',
      classify_host_in_flight: 'gauge',
      classify_queue_depth: 'gauge',
      classify_queue_pending: 'gauge',
      classify_model_hosts_live: 'gauge',
      classify_metrics_processes: 'gauge',
      classify_model_host_info: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(types[name], type, name);
    for (const name of Object.keys(types)) assert.match(name, /^classify_/);
  });

  it('sums every live process: requests to two front ends, batches of the host, seen from either front end', async () => {
    // Three images on front end 1 (one request of 2 + one of 1), one on front end 2, one 415 on front end 2.
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(chelsea)]), 'a.png');
    form.append('image', new Blob([new Uint8Array(chelsea)]), 'b.png');
    assert.equal((await fetch(`${svc.url}/predict`, { method: 'POST', body: form })).status, 200);
    assert.equal((await postImage(svc.url, chelsea)).status, 200);
    assert.equal((await postImage(secondUrl, chelsea)).status, 200);
    assert.equal((await postImage(secondUrl, Buffer.from('text'))).status, 415);

    // Each process pushes its own snapshot: wait for the last request of each (the 415 on front end 2, the batches).
    const settled = (m: Map<string, number>) =>
      m.get('classify_metrics_processes') === 3 &&
      m.get('classify_http_requests_total{route="/predict",status="200"}') === 3 &&
      m.get('classify_http_requests_total{route="/predict",status="415"}') === 1 &&
      m.get('classify_http_request_duration_seconds_count{route="/predict"}') === 4 &&
      m.get('classify_images_per_request_count') === 3 &&
      m.get('classify_batch_size_sum{model="default"}') === 4 &&
      m.get('classify_preprocess_duration_seconds_count{model="default",outcome="ok"}') === 4 &&
      m.get('classify_queue_pending{model="default"}') === 0;
    for (const url of [svc.url, secondUrl]) {
      const m = await eventually(url, settled, `scrape of ${url} sums 3 processes`);
      assert.equal(m.get('classify_http_requests_total{route="/predict",status="415"}'), 1);
      assert.equal(m.get('classify_http_request_duration_seconds_count{route="/predict"}'), 4);
      assert.equal(m.get('classify_images_total{model="default",outcome="ok"}'), 4);
      assert.equal(m.get('classify_images_per_request_count'), 3);
      assert.equal(m.get('classify_preprocess_duration_seconds_count{model="default",outcome="ok"}'), 4);
      assert.ok((m.get('classify_batch_size_count{model="default"}') ?? 0) >= 2, 'at least two batches');
      assert.equal(
        m.get('classify_batch_size_bucket{le="+Inf",model="default"}'),
        m.get('classify_batch_size_count{model="default"}'),
      );
      assert.ok((m.get('classify_inference_duration_seconds_sum{model="default"}') ?? 0) > 0);
      assert.equal(m.get('classify_model_hosts_live'), 1);
      // The default model runs on ONNX Runtime's CPU execution provider after setup's conversion.
      assert.equal(m.get('classify_model_host_info{model="default",engine="onnx",backend="cpu",format="onnx"}'), 1);
      assert.equal(m.get('classify_queue_depth{model="default"}'), 0);
      assert.equal(m.get('classify_queue_pending{model="default"}'), 0);
      assert.equal(m.get('classify_redis_errors_total{component="frontend"}'), 0);
      assert.equal(m.get('classify_redis_errors_total{component="model-host"}'), 0);
    }
  });

  it('counts the other routes too, and a closed front end leaves the sum', async () => {
    await fetch(`${secondUrl}/healthz`);
    await fetch(`${secondUrl}/nope`);
    await eventually(
      svc.url,
      (m) =>
        m.get('classify_http_requests_total{route="/healthz",status="200"}') === 1 &&
        m.get('classify_http_requests_total{route="other",status="404"}') === 1,
      'healthz and 404 counted',
    );
    await second.close();
    const m = await eventually(
      svc.url,
      (x) => x.get('classify_metrics_processes') === 2,
      'the closed front end is withdrawn',
    );
    assert.equal(m.get('classify_http_requests_total{route="/healthz",status="200"}'), undefined);
  });
});
