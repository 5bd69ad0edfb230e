/** GET /v1/models from the live hosts' heartbeats, and POST /predict with several images in one request. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const MAX_IMAGES = 4;

function multipart(files: Array<[Uint8Array, string]>, field = 'image'): FormData {
  const form = new FormData();
  for (const [bytes, name] of files) form.append(field, new Blob([new Uint8Array(bytes)]), name);
  return form;
}

describe('GET /v1/models and multi-image POST /predict', () => {
  let svc: TestService;
  let chelsea: Buffer, coffee: Buffer, rocket: Buffer;
  let metadata: { name: string; labels: string[]; input: object; preprocessing: object; output: string };
  before(async () => {
    metadata = JSON.parse(await readFile(new URL('../../models/default/metadata.json', import.meta.url), 'utf8'));
    svc = await startTestService({ MAX_IMAGES_PER_REQUEST: String(MAX_IMAGES) });
    const example = (f: string) => readFile(new URL(f, EXAMPLES));
    [chelsea, coffee, rocket] = await Promise.all([
      example('chelsea.png'),
      example('coffee.png'),
      example('rocket.jpg'),
    ]);
  });
  after(() => svc?.close());

  it('lists the loaded model with its labels, input, preprocessing, engine and batch size', async () => {
    const res = await fetch(`${svc.url}/v1/models`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.success, true);
    assert.equal(body.models.length, 1);
    const [m] = body.models;
    assert.equal(m.name, 'default', "the serving name is the model directory's name");
    assert.equal(m.title, metadata.name);
    assert.deepEqual(m.labels, metadata.labels);
    assert.deepEqual(m.input, metadata.input);
    assert.deepEqual(m.preprocessing, metadata.preprocessing);
    assert.equal(m.output, metadata.output);
    assert.equal(m.engine, svc.host.models()[0]!.engine.info.engine);
    assert.equal(m.backend, svc.host.models()[0]!.engine.info.backend);
    assert.equal(m.format, svc.host.models()[0]!.engine.info.format);
    assert.equal(m.maxBatch, svc.config.MAX_BATCH);
    assert.equal(m.hosts, 1);
    // /readyz stays small: the labels live in /v1/models only (and strangers get the status alone).
    const ready = await (await fetch(`${svc.url}/readyz`)).json();
    assert.deepEqual(ready, { ready: true });
  });

  it('answers one prediction list per image, in upload order, equal to single-image answers', async () => {
    const singles = await Promise.all(
      [chelsea, coffee, rocket].map(
        async (b) => (await (await postImage(svc.url, b, { query: '?topk=3' })).json()).predictions,
      ),
    );
    const res = await fetch(`${svc.url}/predict?topk=3`, {
      method: 'POST',
      body: multipart([
        [chelsea, 'a.png'],
        [coffee, 'b.png'],
        [rocket, 'c.jpg'],
      ]),
    });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('x-request-id'));
    const body = await res.json();
    assert.equal(body.success, true);
    assert.equal(body.predictions, undefined);
    assert.equal(body.results.length, 3);
    body.results.forEach(
      (r: { success: boolean; predictions: Array<{ label: string; probability: number }> }, i: number) => {
        assert.equal(r.success, true);
        assert.equal(r.predictions.length, 3);
        assert.deepEqual(
          r.predictions.map((p) => p.label),
          singles[i].map((p: { label: string }) => p.label),
          `image ${i}`,
        );
        r.predictions.forEach((p, k) => assert.ok(Math.abs(p.probability - singles[i][k].probability) < 1e-4));
      },
    );
  });

  it('a bad image fails alone; a lone image keeps the single-image shape', async () => {
    const res = await fetch(`${svc.url}/predict`, {
      method: 'POST',
      body: multipart([
        [chelsea, 'a.png'],
        [Buffer.from('not an image'), 'b.txt'],
        [chelsea.subarray(0, 3000), 'c.png'],
        [coffee, 'd.png'],
      ]),
    });
    assert.equal(res.status, 200);
    const { results } = await res.json();
    assert.deepEqual(
      results.map((r: { success: boolean; error?: { code: string } }) => (r.success ? 'ok' : r.error!.code)),
      ['ok', 'UNSUPPORTED_MEDIA_TYPE', 'INVALID_IMAGE', 'ok'],
    );
    assert.equal(results[0].predictions[0].label, 'Neutral');
    const one = await (
      await fetch(`${svc.url}/predict`, { method: 'POST', body: multipart([[chelsea, 'a.png']]) })
    ).json();
    assert.equal(one.success, true);
    assert.equal(one.predictions[0].label, 'Neutral');
    assert.equal(one.results, undefined);
  });

  it('refuses more than MAX_IMAGES_PER_REQUEST images, and fails the request when every image fails alike', async () => {
    const tooMany = await fetch(`${svc.url}/predict`, {
      method: 'POST',
      body: multipart(Array.from({ length: MAX_IMAGES + 1 }, () => [coffee, 'x.png'] as [Buffer, string])),
    });
    assert.equal(tooMany.status, 400);
    const tm = await tooMany.json();
    assert.equal(tm.error.code, 'TOO_MANY_IMAGES');
    assert.match(tm.error.message, new RegExp(`At most ${MAX_IMAGES}`));
    const allBad = await fetch(`${svc.url}/predict`, {
      method: 'POST',
      body: multipart([
        [Buffer.from('a'), 'a.txt'],
        [Buffer.from('b'), 'b.txt'],
      ]),
    });
    assert.equal(allBad.status, 415);
    assert.equal((await allBad.json()).error.code, 'UNSUPPORTED_MEDIA_TYPE');
  });
});
