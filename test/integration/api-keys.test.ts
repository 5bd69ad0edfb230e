/**
 * API keys on the real service (a model host and front ends as child processes, real Redis, real nginx): 401
 * without or with a wrong key, 200 with a right one, per-key 429, the metrics key, keys counted by name in
 * /metrics, rotation by SIGHUP and by the file changing (`npm run keys:add`), a bad file keeping the previous
 * keys, and no key in any log line (service, key script, nginx access and error logs).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { newKey } from '../../src/auth/key-file.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { killAll, startFrontendProcess, startHostProcess, waitUntil, type Child } from '../helpers/processes.ts';
import { smallPng } from '../helpers/load.ts';
import { startTestNginx, type TestNginx } from '../helpers/nginx.ts';
import { buildIfStale } from '../../scripts/build.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const METRICS_KEY = newKey('m').key;

describe('API keys', () => {
  let redis: EmbeddedRedis;
  let dir: string;
  let image: Buffer;
  let host: Child;
  let fe: { child: Child; url: string };
  let watched: { child: Child; url: string };
  let nginxUrl = '';
  let lastReqId = '';
  let nginx: TestNginx | undefined;
  const keys = { alice: newKey('alice'), burst: newKey('burst'), carol: newKey('carol'), reader: newKey('reader') };
  /** Every key the test sends, right or wrong: none may appear in any log. */
  const sent = new Set<string>([METRICS_KEY, ...Object.values(keys).map((k) => k.key)]);
  const script: string[] = [];

  before(async () => {
    buildIfStale(); // `npm run keys:add` runs the build in dist/
    dir = await mkdtemp(join(tmpdir(), 'cls-keys-'));
    image = await smallPng(64);
    redis = await startEmbeddedRedis();
    // The key file is a symlink into another directory: only SIGHUP reloads it (no watch event reaches it).
    await mkdir(join(dir, 'real'));
    await mkdir(join(dir, 'link'));
    await writeFile(join(dir, 'real', 'keys'), `${keys.alice.line}\n${keys.burst.line}\n${keys.reader.line}\n`);
    await symlink(join(dir, 'real', 'keys'), join(dir, 'link', 'keys'));
    // A second front end with a plain file in its own directory: reloads when the file changes.
    await mkdir(join(dir, 'plain'));
    await writeFile(join(dir, 'plain', 'keys'), `${keys.alice.line}\n`);
    const env = { REDIS_URL: redis.url, KEY_PREFIX: 'keys', METRICS_PUSH_MS: '200', LOG_LEVEL: 'debug' };
    const limits = { KEY_RATE_LIMIT_RPS: '2', KEY_RATE_BURST: '4' };
    [host, fe, watched] = await Promise.all([
      startHostProcess('host', env),
      startFrontendProcess('frontend', { ...env, ...limits, API_KEYS_FILE: join(dir, 'link', 'keys'), METRICS_KEY }),
      startFrontendProcess('frontend-watched', { ...env, API_KEYS_FILE: join(dir, 'plain', 'keys') }),
    ]);
    nginx = await startTestNginx(join(dir, 'nginx'), { PORT: new URL(fe.url).port, FRONTENDS: '1' });
    nginxUrl = nginx.url;
  });

  after(async () => {
    await nginx?.stop();
    await killAll();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const predict = (url: string, key?: string, extra: Record<string, string> = {}) => {
    if (key !== undefined) sent.add(key);
    const auth: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
    return fetch(`${url}/predict`, {
      method: 'POST',
      body: new Uint8Array(image),
      headers: { 'content-type': 'image/png', ...auth, ...extra },
    });
  };

  async function expectError(res: Response, status: number, code: string): Promise<void> {
    const text = await res.text();
    assert.equal(res.status, status, text);
    const body = JSON.parse(text);
    assert.deepEqual([body.success, body.error.code, typeof body.error.message], [false, code, 'string']);
  }

  it('inference needs a key: 401 UNAUTHORIZED with WWW-Authenticate: Bearer, then 200 with the right one', async () => {
    let res = await predict(fe.url);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="image-classify"');
    await expectError(res, 401, 'UNAUTHORIZED');
    res = await predict(fe.url, newKey('x').key);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
    await expectError(res, 401, 'UNAUTHORIZED');
    res = await predict(fe.url, undefined, {
      authorization: `Basic ${Buffer.from(`alice:${keys.alice.key}`).toString('base64')}`,
    });
    await expectError(res, 401, 'UNAUTHORIZED');
    res = await predict(fe.url, keys.alice.key);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await res.json()).success, true);
  });

  it('the Open Inference Protocol: infer and model metadata need a key (401 in its error shape); health does not', async () => {
    for (const path of ['/v2/health/live', '/v2/health/ready', '/v2'])
      assert.equal((await fetch(`${fe.url}${path}`)).status, 200, path);
    const tensor = JSON.stringify({
      inputs: [{ name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: new Array(224 * 224 * 3).fill(0.5) }],
    });
    for (const [method, path] of [
      ['POST', '/v2/models/default/infer'],
      ['GET', '/v2/models/default'],
      ['GET', '/v2/models/default/ready'],
    ] as const) {
      const res = await fetch(`${fe.url}${path}`, { method, body: method === 'POST' ? tensor : undefined });
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ['error'], path);
      assert.match(body.error, /UNAUTHORIZED/);
    }
    const ok = await fetch(`${fe.url}/v2/models/default/infer`, {
      method: 'POST',
      body: tensor,
      headers: { authorization: `Bearer ${keys.alice.key}` },
    });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).model_name, 'default');
  });

  it('needs no key on /healthz, /readyz and the demo page; model metadata needs one', async () => {
    for (const path of ['/healthz', '/readyz', '/']) assert.equal((await fetch(`${fe.url}${path}`)).status, 200, path);
    await expectError(await fetch(`${fe.url}/v1/models`), 401, 'UNAUTHORIZED');
    const models = await fetch(`${fe.url}/v1/models`, { headers: { authorization: `Bearer ${keys.alice.key}` } });
    assert.equal(models.status, 200);
    assert.equal((await models.json()).models.length, 1);
  });

  it('/metrics needs METRICS_KEY and counts requests by key name, never the key', async () => {
    await expectError(await fetch(`${fe.url}/metrics`), 401, 'UNAUTHORIZED');
    await expectError(
      await fetch(`${fe.url}/metrics`, { headers: { authorization: `Bearer ${keys.alice.key}` } }),
      401,
      'UNAUTHORIZED',
    );
    const scrape = async () =>
      (await fetch(`${fe.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_KEY}` } })).text();
    await waitUntil(
      async () =>
        /classify_key_requests_total\{key="alice",route="\/predict",status="200"\} [1-9]/.test(await scrape()),
      10_000,
      'alice counted',
    );
    const text = await scrape();
    for (const key of sent) assert.ok(!text.includes(key), 'no key in the metrics');
  });

  it('a key past its rate limit gets 429 RATE_LIMITED with Retry-After; other keys are not affected', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => predict(fe.url, keys.burst.key)));
    const limited = answers.filter((r) => r.status === 429);
    assert.ok(limited.length >= 2, `burst 4 + 2/s: ${answers.map((r) => r.status)}`);
    assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 1);
    for (const r of answers) if (r !== limited[0]) await r.body?.cancel();
    await expectError(limited[0]!, 429, 'RATE_LIMITED');
    assert.equal((await predict(fe.url, keys.alice.key)).status, 200);
  });

  it('metadata and readiness GETs need the key but never spend its inference budget (issue 20)', async () => {
    const auth = { authorization: `Bearer ${keys.reader.key}` };
    sent.add(keys.reader.key);
    // Thirty metadata GETs, far past the inference burst of 4: none is limited (KEY_METADATA_RATE_LIMIT_RPS is off).
    const paths = ['/v2/models/default', '/v2/models/default/ready', '/v1/models'];
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => fetch(`${fe.url}${paths[i % 3]}`, { headers: auth })),
    );
    assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
    for (const r of answers) await r.body?.cancel();
    // ... and the key's inference burst is untouched.
    const burst = await Promise.all(Array.from({ length: 4 }, () => predict(fe.url, keys.reader.key)));
    assert.deepEqual(
      burst.map((r) => r.status),
      [200, 200, 200, 200],
    );
    assert.equal((await fetch(`${fe.url}/v2/models/default`)).status, 401, 'still needs the key');
  });

  it('rotation by SIGHUP: a new key works and a removed one is refused; a bad file keeps the previous keys', async () => {
    await writeFile(join(dir, 'real', 'keys'), `${keys.carol.line}\n${keys.burst.line}\n`);
    const reloaded = fe.child.logs.length;
    fe.child.kill('SIGHUP');
    await waitUntil(
      () => fe.child.logs.slice(reloaded).some((l) => l.msg === 'API_KEYS_FILE: keys reloaded'),
      10_000,
      'reload',
    );
    const line = fe.child.logs.slice(reloaded).find((l) => l.msg === 'API_KEYS_FILE: keys reloaded')!;
    assert.deepEqual([line.reason, line.added, line.removed], ['SIGHUP', ['carol'], ['alice', 'reader']]);
    assert.equal((await predict(fe.url, keys.carol.key)).status, 200);
    await expectError(await predict(fe.url, keys.alice.key), 401, 'UNAUTHORIZED');

    await writeFile(join(dir, 'real', 'keys'), 'carol:not-a-hash\n');
    const refused = fe.child.logs.length;
    fe.child.kill('SIGHUP');
    await waitUntil(() => fe.child.logs.slice(refused).some((l) => /reload refused/.test(l.msg)), 10_000, 'refusal');
    assert.equal((await predict(fe.url, keys.carol.key)).status, 200, 'still the previous keys');
    assert.equal(fe.child.proc.exitCode, null, 'SIGHUP does not stop the front end');
  });

  it('rotation when the file changes: `npm run keys:add` prints a key that works without a restart', async () => {
    const out = await run('npm', ['run', '-s', 'keys:add', '--', 'dave'], {
      cwd: ROOT,
      env: { ...process.env, API_KEYS_FILE: join(dir, 'plain', 'keys') },
    });
    script.push(out.stderr);
    const key = out.stdout.trim();
    sent.add(key);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.match(await readFile(join(dir, 'plain', 'keys'), 'utf8'), /^dave:[0-9a-f]{64}$/m);
    await waitUntil(async () => (await predict(watched.url, key)).status === 200, 10_000, 'the new key to be accepted');
  });

  it('through nginx: Authorization passes to the front end, and nginx logs no key', async () => {
    await expectError(await predict(nginxUrl), 401, 'UNAUTHORIZED');
    const res = await predict(nginxUrl, keys.carol.key);
    assert.equal(res.status, 200);
    lastReqId = res.headers.get('x-request-id') ?? '';
  });

  it('no key appears in any log line; access lines carry the key name', async () => {
    // The last request's access lines (front end, then nginx) are written just after its response.
    const nginxAccess = () => readFile(join(dir, 'nginx', 'logs', 'access.log'), 'utf8').catch(() => '');
    await waitUntil(
      async () => fe.child.logs.some((l) => l.reqId === lastReqId) && (await nginxAccess()).includes(lastReqId),
      10_000,
      `the access lines of request ${lastReqId}`,
    );
    const logs = [host, fe.child, watched.child].flatMap((c) => [...c.logs.map((l) => JSON.stringify(l)), ...c.text]);
    const nginxLogs = await Promise.all(
      ['access.log', 'error.log'].map((f) => readFile(join(dir, 'nginx', 'logs', f), 'utf8').catch(() => '')),
    );
    const all = [...logs, ...script, ...nginxLogs.flatMap((t) => t.split('\n'))];
    assert.ok(nginxLogs[0]!.split('\n').length > 2, 'nginx logged its requests');
    for (const key of sent) {
      const hit = all.find((l) => l.includes(key));
      assert.equal(hit, undefined, `a key appears in a log line: ${hit?.replace(key, '<KEY>')}`);
    }
    const named = fe.child.logs.filter((l) => l.route === '/predict' && l.status === 200);
    assert.ok(
      named.length > 0 && named.every((l) => typeof l.key === 'string'),
      'each /predict access line names its key',
    );
    assert.ok(fe.child.logs.some((l) => l.route === '/predict' && l.status === 429 && l.key === 'burst'));
  });
});
