/**
 * Hostile Open Inference Protocol bodies through the real service (issue 20, items 3–5): millions of nested
 * brackets are refused before JSON.parse (they cost seconds of the event loop), a shape its data cannot fill is
 * refused before anything is allocated for it, and values that are not finite as float32 are refused instead of
 * coming back as `null` outputs. Every answer is the protocol's JSON error; the service answers others meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const SHAPE = [1, 224, 224, 3];
const PER = 224 * 224 * 3;

describe('hostile /v2 inference bodies', () => {
  let svc: TestService;
  let infer: string;
  before(async () => {
    svc = await startTestService();
    infer = `${svc.url}/v2/models/default/infer`;
  });
  after(() => svc?.close());

  const post = async (body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) => {
    const res = await fetch(infer, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
  const fp32 = (data: unknown) => JSON.stringify({ inputs: [{ name: 'input', shape: SHAPE, datatype: 'FP32', data }] });

  it('refuses 5 million nested brackets unparsed, and /healthz is answered meanwhile', async () => {
    const body = `{"inputs":[{"name":"input","shape":[1,224,224,3],"datatype":"FP32","data":${'['.repeat(5_000_000)}`;
    const [answer, health] = await Promise.all([post(body), fetch(`${svc.url}/healthz`)]);
    assert.equal(answer.status, 400, answer.text);
    assert.match(JSON.parse(answer.text).error, /deeper than \d+ levels/);
    assert.equal(health.status, 200);
  });

  it('refuses a 97-byte body declaring 16 × 224 × 224 × 3 values on its length', async () => {
    const body = '{"inputs":[{"name":"input","shape":[16,224,224,3],"datatype":"FP32","data":[1,2,3]}]}';
    const answer = await post(body);
    assert.equal(answer.status, 400, answer.text);
    assert.match(JSON.parse(answer.text).error, /cannot hold the \d+ values/);
  });

  it('refuses 1e39 in JSON and NaN or Infinity in binary FP32: 400, never null outputs', async () => {
    const values = new Array<number>(PER).fill(0.5);
    values[1000] = 1e39;
    const json = await post(fp32(values));
    assert.equal(json.status, 400, json.text.slice(0, 200));
    assert.match(JSON.parse(json.text).error, /finite as float32/);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const f = new Float32Array(PER).fill(0.5);
      f[77] = bad;
      const head = Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'input', shape: SHAPE, datatype: 'FP32', parameters: { binary_data_size: PER * 4 } }],
        }),
      );
      const answer = await post(new Uint8Array(Buffer.concat([head, Buffer.from(f.buffer)])), {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(head.length),
      });
      assert.equal(answer.status, 400, `${bad}: ${answer.text.slice(0, 200)}`);
    }
  });

  it('answers 3e38 everywhere (finite as float32) with numbers, or 400 when the model overflows: never null', async () => {
    const answer = await post(fp32(new Array<number>(PER).fill(3e38)));
    assert.ok(answer.status === 200 || answer.status === 400, answer.text.slice(0, 200));
    assert.doesNotMatch(answer.text, /null/);
    if (answer.status === 400) assert.match(JSON.parse(answer.text).error, /not finite/);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
  });
});
