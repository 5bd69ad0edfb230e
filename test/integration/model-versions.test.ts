/**
 * Model versions with the real service: two model hosts and a front end as child processes, real Redis, real
 * nginx in front, a repository whose model `cats` gets versions published and withdrawn while it serves.
 * Version 2 is the same weights with the labels rotated by one, so each answer tells which version ran
 * (chelsea.png: `Neutral` from version 1, `Porn` from version 2).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKey } from '../../src/auth/key-file.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { killAll, startFrontendProcess, startHostProcess, waitUntil, type Child } from '../helpers/processes.ts';
import { startTestNginx, type TestNginx } from '../helpers/nginx.ts';
import { EXAMPLES } from '../../scripts/lib/in-process-service.ts';
import { publishVersion, withdrawVersion } from '../helpers/versioned-repo.ts';

const V1_TOP = 'Neutral';
const V2_TOP = 'Porn';

interface IndexEntry {
  name: string;
  version?: string;
  state: string;
  reason?: string;
  hosts: Record<string, number>;
}

describe('model versions', () => {
  let redis: EmbeddedRedis;
  let dir: string;
  let cats: string;
  let chelsea: Buffer;
  const hosts: Child[] = [];
  let fe: { child: Child; url: string };
  let admin = '';
  let nginxUrl = '';
  const root = newKey('root');
  let nginx: TestNginx | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cls-versions-'));
    cats = join(dir, 'repo', 'cats');
    await publishVersion(cats, 1, 'normal');
    await writeFile(join(dir, 'admins'), `${root.line}\n`);
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
    redis = await startEmbeddedRedis();
    const env = {
      REDIS_URL: redis.url,
      KEY_PREFIX: 'versions',
      MODEL_REPOSITORY: join(dir, 'repo'),
      MODEL_DIR: '',
      DEFAULT_MODEL: 'cats',
      REPOSITORY_POLL_S: '1',
      VERSION_SWITCH_GRACE_MS: '1500',
      HEARTBEAT_MS: '500',
      ENGINE: 'onnx',
      REQUEST_TIMEOUT_MS: '20000',
    };
    const [a, b] = await Promise.all([startHostProcess('host-a', env), startHostProcess('host-b', env)]);
    hosts.push(a, b);
    fe = await startFrontendProcess('frontend', { ...env, ADMIN_KEYS_FILE: join(dir, 'admins'), ADMIN_PORT: '0' });
    const listening = fe.child.logs.find((l) => l.msg === 'front end listening')!;
    admin = `http://127.0.0.1:${listening.adminPort as number}`;
    nginx = await startTestNginx(join(dir, 'nginx'), { PORT: new URL(fe.url).port, FRONTENDS: '1' });
    nginxUrl = nginx.url;
  });

  after(async () => {
    await nginx?.stop();
    await killAll();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function classify(url: string, query = ''): Promise<{ status: number; top?: string; error?: string }> {
    const res = await fetch(`${url}/predict${query}`, {
      method: 'POST',
      body: new Uint8Array(chelsea),
      headers: { 'content-type': 'image/png' },
    });
    const body = (await res.json()) as {
      predictions?: Array<{ label: string }>;
      error?: { code: string; message: string };
    };
    return {
      status: res.status,
      top: body.predictions?.[0]?.label,
      error: body.error && `${body.error.code}: ${body.error.message}`,
    };
  }

  const index = async (): Promise<IndexEntry[]> =>
    (
      await fetch(`${admin}/v2/repository/index`, { method: 'POST', headers: { authorization: `Bearer ${root.key}` } })
    ).json();
  const state = async (version: number) =>
    (await index()).find((e) => e.name === 'cats' && e.version === String(version));
  const manage = (action: string) =>
    fetch(`${admin}/v2/repository/models/cats/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${root.key}` },
    });

  it('a one-version model serves version 1', async () => {
    assert.deepEqual(await classify(fe.url), { status: 200, top: V1_TOP, error: undefined });
    assert.deepEqual(await state(1), { name: 'cats', version: '1', state: 'ready', hosts: { ready: 2 } });
  });

  it('publishing version 2 and rolling back under steady load through nginx: every request 200, answers switch', async () => {
    const samples: Array<{ status: number; top?: string; at: number }> = [];
    let stop = false;
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const r = await classify(nginxUrl).catch((err: Error) => ({ status: 0, top: err.message }));
        samples.push({ ...r, at: Date.now() });
      }
    });
    try {
      await waitUntil(() => samples.length >= 10, 30_000, 'load flowing');
      const published = Date.now();
      await publishVersion(cats, 2, 'rotated');
      await waitUntil(
        () => samples.some((s) => s.at > published && s.top === V2_TOP),
        60_000,
        'answers from version 2',
      );
      await waitUntil(async () => (await state(1)) === undefined, 30_000, 'version 1 unloaded');
      const switched = Date.now();
      await waitUntil(() => samples.filter((s) => s.at > switched).length >= 20, 30_000, 'answers after the switch');
      assert.ok(
        samples.filter((s) => s.at > switched).every((s) => s.top === V2_TOP),
        'only version 2 once version 1 is gone',
      );

      const rolledBack = Date.now();
      await withdrawVersion(cats, 2);
      await waitUntil(
        () => samples.some((s) => s.at > rolledBack && s.top === V1_TOP),
        60_000,
        'answers from version 1 again',
      );
      await waitUntil(async () => (await state(2)) === undefined, 30_000, 'version 2 unloaded');
      const unloaded = Date.now();
      await waitUntil(() => samples.filter((s) => s.at > unloaded).length >= 20, 30_000, 'answers after the rollback');
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    const bad = samples.filter((s) => s.status !== 200);
    const events = [...hosts, fe.child].flatMap((c) =>
      c.logs
        .filter((l) => l.level >= 40 || /version|reclaim|claimed/.test(l.msg))
        .map((l) => `${c.name} ${l.time} ${l.msg} ${l.model ?? ''}@${l.version ?? ''}`),
    );
    assert.equal(
      bad.length,
      0,
      `${bad.length} of ${samples.length} failed: ${JSON.stringify(bad.slice(0, 5))}\n${events.join('\n')}`,
    );
    assert.ok(samples.length > 50, `steady load: ${samples.length} requests`);
    assert.equal(samples.at(-1)!.top, V1_TOP);
  });

  it('a broken version is refused with its reason while the previous one serves', async () => {
    await publishVersion(cats, 3, 'broken');
    try {
      await waitUntil(async () => (await state(3))?.state === 'failed', 60_000, 'version 3 failed');
      const failed = (await state(3))!;
      assert.equal(failed.hosts.failed, 2);
      assert.match(failed.reason ?? '', /model\.onnx/, 'the reason names what failed');
      assert.equal((await state(1))?.state, 'ready');
      // The front end's view of the versions refreshes every VERSION_REFRESH_MS.
      await waitUntil(
        async () => /failed to load/.test((await classify(fe.url, '?version=3')).error ?? ''),
        10_000,
        "the front end's view of version 3's failure",
      );
      assert.deepEqual(await classify(fe.url), { status: 200, top: V1_TOP, error: undefined });
      const pinned = await classify(fe.url, '?version=3');
      assert.equal(pinned.status, 404);
      assert.match(pinned.error ?? '', /MODEL_NOT_FOUND: Version 3 of model cats is not served \(it failed to load: /);
    } finally {
      await withdrawVersion(cats, 3);
    }
    await waitUntil(async () => (await state(3)) === undefined, 30_000, 'version 3 forgotten');
  });

  it('pinned versions answer from the version asked for; unpinned from the newest', async () => {
    await writeFile(join(cats, 'config.json'), JSON.stringify({ version_policy: { all: {} } }));
    await publishVersion(cats, 2, 'rotated');
    await waitUntil(async () => (await state(2))?.hosts.ready === 2, 60_000, 'version 2 ready on both hosts');
    assert.equal((await state(1))?.state, 'ready', 'policy all keeps version 1');
    // The front end's view of the versions refreshes every VERSION_REFRESH_MS.
    await waitUntil(async () => (await classify(fe.url, '?version=2')).status === 200, 10_000, 'version 2 routed');
    assert.equal((await classify(fe.url, '?version=1')).top, V1_TOP);
    assert.equal((await classify(fe.url, '?model=cats&version=2')).top, V2_TOP);
    assert.equal((await classify(fe.url)).top, V2_TOP);
    assert.equal((await classify(fe.url, '?version=0')).status, 400);
    assert.equal((await classify(fe.url, '?version=9')).status, 404);
    // The Open Inference Protocol's pinned route: the answer names the version that ran.
    const tensor = {
      inputs: [{ name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: new Array(224 * 224 * 3).fill(0.5) }],
    };
    for (const [path, version] of [
      ['/v2/models/cats/versions/1/infer', '1'],
      ['/v2/models/cats/versions/2/infer', '2'],
      ['/v2/models/cats/infer', '2'],
    ]) {
      const res = await fetch(`${fe.url}${path!}`, {
        method: 'POST',
        body: JSON.stringify(tensor),
        headers: { 'content-type': 'application/json' },
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.model_version, version, path);
    }
    const unknown = await fetch(`${fe.url}/v2/models/cats/versions/9/infer`, {
      method: 'POST',
      body: JSON.stringify(tensor),
    });
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).error, /MODEL_NOT_FOUND/);
    const meta = await (await fetch(`${fe.url}/v2/models/cats`)).json();
    assert.deepEqual(meta.versions, ['1', '2']);
  });

  it('the management API unloads and loads the model on both model hosts', async () => {
    let res = await manage('unload');
    let body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.hosts.map((h: { host: string }) => h.host).sort(),
      hosts.map((h) => String(h.logs.find((l) => l.msg === 'model host ready')!.hostId)).sort(),
    );
    for (const h of body.hosts) assert.deepEqual(h.versions, []);
    const unloaded = (await index()).filter((e) => e.name === 'cats');
    assert.equal(unloaded.length, 1);
    assert.equal(unloaded[0]!.state, 'unavailable');
    await waitUntil(async () => (await classify(fe.url)).status !== 200, 10_000, 'requests refused once unloaded');

    res = await manage('load');
    body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.hosts.length, 2);
    for (const h of body.hosts)
      assert.deepEqual(
        h.versions.map((v: { state: string }) => v.state),
        ['ready', 'ready'],
      );
    await waitUntil(async () => (await classify(fe.url)).status === 200, 10_000, 'requests served once loaded');
    assert.deepEqual(await classify(fe.url), { status: 200, top: V2_TOP, error: undefined });
    for (const h of hosts) assert.ok(h.logs.some((l) => l.msg === 'model control: unload done' && l.by === 'root'));
  });
});
