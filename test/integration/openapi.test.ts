/**
 * GET /openapi.json matches the real service: live responses of every route, success and error shapes, are
 * validated with ajv against the response schema the document declares for their path, method and status.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { createLogger } from '../../src/observability/logger.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import type { openApiDocument } from '../../src/frontend/openapi.ts';
import {
  EXAMPLES,
  postImage,
  startTestService,
  type TestService,
  testConfig,
} from '../../scripts/lib/in-process-service.ts';

const DOC_ID = 'https://classify.invalid/openapi.json';
const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

describe('OpenAPI document', () => {
  let svc: TestService;
  let hostless: Frontend;
  let hostlessUrl: string;
  let chelsea: Buffer;
  let doc: typeof openApiDocument;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addFormat('binary', true);
  const checked = new Set<string>();

  before(async () => {
    svc = await startTestService({ MAX_IMAGES_PER_REQUEST: '3', BODY_LIMIT_BYTES: String(1024 * 1024) });
    // A front end of a deployment without any model host: the 503 shapes.
    hostless = await startFrontend(
      testConfig({ PORT: '0', KEY_PREFIX: `empty-${randomBytes(4).toString('hex')}` }),
      svc.redis.url,
      createLogger('test', 'silent'),
    );
    hostlessUrl = `http://127.0.0.1:${hostless.port}`;
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
    doc = await (await fetch(`${svc.url}/openapi.json`)).json();
    ajv.addSchema({ ...doc, $id: DOC_ID });
  });
  after(async () => {
    await hostless?.close();
    await svc?.close();
  });

  /** Validates a live response against the document's schema for (path, method, status). */
  async function conforms(res: Response, path: string, method: string, label: string): Promise<unknown> {
    const status = String(res.status);
    const responses = (
      doc.paths as Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>>
    )[path]?.[method]?.responses;
    assert.ok(responses?.[status], `${label}: the document declares ${method.toUpperCase()} ${path} → ${status}`);
    assert.ok(res.headers.get('x-request-id'), `${label}: X-Request-Id`);
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!;
    assert.ok(responses[status]!.content[contentType], `${label}: declared content type ${contentType}`);
    const text = await res.text();
    if (contentType !== 'application/json') return text;
    const body = JSON.parse(text);
    const validate = ajv.getSchema(
      `${DOC_ID}#/${pointer('paths', path, method, 'responses', status, 'content', contentType, 'schema')}`,
    );
    assert.ok(validate, `${label}: schema compiles`);
    assert.ok(validate(body), `${label}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 400)}`);
    checked.add(`${method} ${path} ${status}`);
    return body;
  }

  const multipart = (...files: Uint8Array[]) => {
    const form = new FormData();
    for (const f of files) form.append('image', new Blob([new Uint8Array(f)]), 'f');
    return form;
  };

  it('POST /predict: single and multi-image 200s', async () => {
    await conforms(await postImage(svc.url, chelsea), '/predict', 'post', 'single');
    await conforms(await postImage(svc.url, chelsea, { query: '?topk=2' }), '/predict', 'post', 'single topk');
    const many = (await conforms(
      await fetch(`${svc.url}/predict`, { method: 'POST', body: multipart(chelsea, Buffer.from('no'), chelsea) }),
      '/predict',
      'post',
      'multi',
    )) as { results: unknown[] };
    assert.equal(many.results.length, 3);
  });

  it('POST /predict: every error shape', async () => {
    const cases: Array<[string, () => Promise<Response>, number]> = [
      [
        'missing image',
        () =>
          fetch(`${svc.url}/predict`, {
            method: 'POST',
            body: (() => {
              const f = new FormData();
              f.append('x', 'y');
              return f;
            })(),
          }),
        400,
      ],
      [
        'too many images',
        () => fetch(`${svc.url}/predict`, { method: 'POST', body: multipart(chelsea, chelsea, chelsea, chelsea) }),
        400,
      ],
      ['invalid image', () => postImage(svc.url, chelsea.subarray(0, 2000)), 400],
      ['bad topk', () => postImage(svc.url, chelsea, { query: '?topk=x' }), 400],
      ['body too large', () => postImage(svc.url, Buffer.alloc(2 * 1024 * 1024, 1)), 413],
      ['unsupported', () => postImage(svc.url, Buffer.from('hello')), 415],
      ['no model host', () => postImage(hostlessUrl, chelsea), 503],
    ];
    for (const [label, send, status] of cases) {
      const res = await send();
      assert.equal(res.status, status, label);
      await conforms(res, '/predict', 'post', label);
    }
  });

  it('GET /v1/models, /readyz (200 and 503), /healthz, /metrics, /openapi.json, /', async () => {
    await conforms(await fetch(`${svc.url}/v1/models`), '/v1/models', 'get', 'models');
    await conforms(await fetch(`${hostlessUrl}/v1/models`), '/v1/models', 'get', 'models, none live');
    await conforms(await fetch(`${svc.url}/readyz`), '/readyz', 'get', 'ready');
    const notReady = await fetch(`${hostlessUrl}/readyz`);
    assert.equal(notReady.status, 503);
    await conforms(notReady, '/readyz', 'get', 'not ready');
    await conforms(await fetch(`${svc.url}/healthz`), '/healthz', 'get', 'health');
    await conforms(await fetch(`${svc.url}/openapi.json`), '/openapi.json', 'get', 'openapi');
    assert.match(
      (await conforms(await fetch(`${svc.url}/metrics`), '/metrics', 'get', 'metrics')) as string,
      /classify_/,
    );
    assert.match((await conforms(await fetch(`${svc.url}/`), '/', 'get', 'demo page')) as string, /<html/);
  });

  it('the Open Inference Protocol operations (their bodies: test/integration/v2-protocol.test.ts)', async () => {
    await conforms(await fetch(`${svc.url}/v2`), '/v2', 'get', 'v2 metadata');
    await conforms(await fetch(`${svc.url}/v2/health/live`), '/v2/health/live', 'get', 'v2 live');
    await conforms(await fetch(`${svc.url}/v2/health/ready`), '/v2/health/ready', 'get', 'v2 ready');
    await conforms(await fetch(`${svc.url}/v2/models/default`), '/v2/models/{name}', 'get', 'v2 model');
    await conforms(await fetch(`${svc.url}/v2/models/nope`), '/v2/models/{name}', 'get', 'v2 unknown model');
    await conforms(
      await fetch(`${svc.url}/v2/models/default/ready`),
      '/v2/models/{name}/ready',
      'get',
      'v2 model ready',
    );
    const zeros = JSON.stringify({
      inputs: [{ name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: new Array(224 * 224 * 3).fill(0) }],
    });
    const infer = (body: string, url = svc.url) =>
      fetch(`${url}/v2/models/default/infer`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/json' },
      });
    await conforms(await infer(zeros), '/v2/models/{name}/infer', 'post', 'v2 infer');
    await conforms(await infer('{"inputs":[]}'), '/v2/models/{name}/infer', 'post', 'v2 bad request');
    await conforms(await infer(zeros, hostlessUrl), '/v2/models/{name}/infer', 'post', 'v2 no host');
  });

  it('404 and 405 bodies are the Error schema; every path of the document was exercised', async () => {
    const error = ajv.getSchema(`${DOC_ID}#/components/schemas/Error`)!;
    for (const res of [await fetch(`${svc.url}/nope`), await fetch(`${svc.url}/predict`, { method: 'PUT' })]) {
      assert.ok([404, 405].includes(res.status));
      assert.ok(res.headers.get('x-request-id'));
      assert.ok(error(await res.json()), ajv.errorsText(error.errors));
    }
    for (const path of Object.keys(doc.paths))
      assert.ok([...checked].some((c) => c.split(' ')[1] === path) || ['/metrics', '/'].includes(path), path);
    assert.equal(doc.openapi, '3.1.0');
  });
});
