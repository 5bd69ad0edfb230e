/**
 * The management API's own parts, for real: a front end with ADMIN_KEYS_FILE serving it on its own port, Redis,
 * and two model hosts' control listeners (src/host/model-control.ts) over their own Redis connections. The hosts'
 * models are stand-ins here (a ControlTarget that records what it was asked); the test with real model hosts
 * loading and unloading real models is in test/integration/model-versions.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/config.ts';
import { newKey } from '../../src/auth/key-file.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { startFrontend, type Frontend } from '../../src/frontend/frontend.ts';
import { ModelControlListener, type ControlTarget } from '../../src/host/model-control.ts';
import { keysFor } from '../../src/wire/keys.ts';
import type { VersionStatus } from '../../src/wire/versions.ts';
import { captureLogger } from '../helpers/processes.ts';
import { encodeHeartbeat } from '../../src/wire/heartbeat.ts';

/** A host's models as a ControlTarget: `broken` versions fail to load with a reason. */
class StandInHost implements ControlTarget {
  readonly asked: string[] = [];
  readonly models = new Map<string, VersionStatus[]>();
  constructor(
    readonly id: string,
    private readonly served: string[],
    private readonly broken = new Map<string, string>(),
  ) {
    for (const m of served) this.models.set(m, [{ version: 1, state: 'ready' }]);
  }
  serves(model: string) {
    return this.served.includes(model);
  }
  async load(model: string) {
    this.asked.push(`load ${model}`);
    const reason = this.broken.get(model);
    this.models.set(
      model,
      reason
        ? [
            { version: 1, state: 'ready' },
            { version: 2, state: 'failed', reason },
          ]
        : [{ version: 2, state: 'ready' }],
    );
    return this.versions(model);
  }
  async unload(model: string) {
    this.asked.push(`unload ${model}`);
    this.models.set(model, []);
    return this.versions(model);
  }
  versions(model: string) {
    return this.models.get(model) ?? [];
  }
}

describe('management API', () => {
  let redis: EmbeddedRedis;
  let client: Redis;
  let frontend: Frontend;
  let admin: string;
  let dir: string;
  const prefix = `mgmt-${randomBytes(3).toString('hex')}`;
  const keys = keysFor(prefix);
  const root = newKey('root');
  const alice = newKey('alice');
  const { log, lines } = captureLogger('info');
  const hosts = [
    new StandInHost('host-a', ['cats', 'dogs'], new Map([['dogs', 'model.onnx: wrong input shape']])),
    new StandInHost('host-b', ['cats']),
  ];
  const listeners: ModelControlListener[] = [];
  const conns: Redis[] = [];

  /** What a heartbeat would publish: the host live for a while, with its versions. */
  async function beat(host: StandInHost) {
    const versions = Object.fromEntries(host.models);
    await client
      .multi()
      .zadd(keys.registry, Date.now() + 60_000, host.id)
      .hset(keys.hostInfo(host.id), encodeHeartbeat({ startedAt: 0, heartbeatAt: Date.now(), models: [], versions }))
      .exec();
  }

  before(async () => {
    redis = await startEmbeddedRedis();
    client = new Redis(redis.url);
    dir = await mkdtemp(join(tmpdir(), 'cls-mgmt-'));
    await writeFile(join(dir, 'admins'), `${root.line}\n`);
    await writeFile(join(dir, 'keys'), `${alice.line}\n`);
    const config = loadConfig({
      PORT: '0',
      GRPC_PORT: '0',
      ADMIN_PORT: '0',
      KEY_PREFIX: prefix,
      ADMIN_KEYS_FILE: join(dir, 'admins'),
      API_KEYS_FILE: join(dir, 'keys'),
      ADMIN_ACTION_TIMEOUT_MS: '5000',
    });
    frontend = await startFrontend(config, redis.url, log);
    admin = `http://127.0.0.1:${frontend.adminPort}`;
    for (const host of hosts) {
      const sub = new Redis(redis.url);
      const cmd = new Redis(redis.url);
      conns.push(sub, cmd);
      const listener = new ModelControlListener(sub, cmd, keys, host.id, host, log);
      await listener.start();
      listeners.push(listener);
      await beat(host);
    }
  });

  after(async () => {
    for (const l of listeners) await l.close();
    for (const c of conns) c.disconnect();
    await frontend?.close();
    client?.disconnect();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, key?: string, body?: string) =>
    fetch(`${admin}${path}`, {
      method: 'POST',
      body,
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    });

  it('is off on the inference port and on its own port when ADMIN_KEYS_FILE is set', async () => {
    assert.equal(
      (await fetch(`http://127.0.0.1:${frontend.port}/v2/repository/index`, { method: 'POST' })).status,
      404,
    );
    assert.notEqual(frontend.adminPort, frontend.port);
  });

  it('401 without a key or with an unknown one, 403 FORBIDDEN for an inference key; protocol error shape', async () => {
    for (const [key, status] of [
      [undefined, 401],
      ['wrong-key-000000000000', 401],
      [alice.key, 403],
    ] as const) {
      const res = await post('/v2/repository/index', key);
      assert.equal(res.status, status);
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(typeof body.error, 'string');
      if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
  });

  it('index lists models and versions with their state across hosts', async () => {
    const res = await post('/v2/repository/index', root.key);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [
      { name: 'cats', version: '1', state: 'ready', hosts: { ready: 2 } },
      { name: 'dogs', version: '1', state: 'ready', hosts: { ready: 1 } },
    ]);
    assert.equal((await post('/v2/repository/index', root.key, '[1]')).status, 400);
  });

  it('load acts on every host serving the model, and says so', async () => {
    const res = await post('/v2/repository/models/cats/load', root.key);
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.hosts.map((h: { host: string }) => h.host).sort(), ['host-a', 'host-b']);
    assert.deepEqual(
      hosts.map((h) => h.asked),
      [['load cats'], ['load cats']],
    );
  });

  it('a version that fails to load is reported with its reason (400), the others keep serving', async () => {
    const res = await post('/v2/repository/models/dogs/load', root.key);
    const body = await res.json();
    assert.equal(res.status, 400);
    assert.match(body.error, /host-a: version 2: model\.onnx: wrong input shape/);
    assert.deepEqual(hosts[1]!.asked, ['load cats'], 'host-b does not serve dogs');
    await beat(hosts[0]!);
    const index = await (await post('/v2/repository/index', root.key)).json();
    assert.deepEqual(
      index.filter((e: { name: string }) => e.name === 'dogs'),
      [
        { name: 'dogs', version: '1', state: 'ready', hosts: { ready: 1 } },
        { name: 'dogs', version: '2', state: 'failed', reason: 'model.onnx: wrong input shape', hosts: { failed: 1 } },
      ],
    );
  });

  it('unload acts on every host; the model is listed unavailable; a host starting later honours it', async () => {
    const res = await post('/v2/repository/models/cats/unload', root.key);
    assert.equal(res.status, 200);
    assert.deepEqual(
      hosts.map((h) => h.asked.at(-1)),
      ['unload cats', 'unload cats'],
    );
    for (const h of hosts) await beat(h);
    const index = await (await post('/v2/repository/index', root.key)).json();
    const cats = index.filter((e: { name: string }) => e.name === 'cats');
    assert.equal(cats.length, 1);
    assert.equal(cats[0].state, 'unavailable');
    assert.match(cats[0].reason, /unloaded by root/);

    const late = new StandInHost('host-c', ['cats']);
    const sub = new Redis(redis.url);
    const cmd = new Redis(redis.url);
    conns.push(sub, cmd);
    const listener = new ModelControlListener(sub, cmd, keys, late.id, late, log);
    listeners.push(listener);
    assert.deepEqual([...(await listener.start())], ['cats'], 'the late host learns cats is kept unloaded');
    assert.deepEqual(late.asked, [], 'and is not asked to unload what it never loads');
  });

  it('404 for a model no host serves, 400 for a bad name', async () => {
    assert.equal((await post('/v2/repository/models/birds/load', root.key)).status, 404);
    assert.equal((await post('/v2/repository/models/a%20b/load', root.key)).status, 400);
  });

  it('logs each action with the admin key name, never the key', async () => {
    const actions = lines.filter((l) => /^management: (load|unload) (done|failed)$/.test(l.msg));
    assert.ok(actions.length >= 4);
    for (const l of actions) assert.equal(l.key, 'root');
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const k of [root.key, alice.key]) assert.ok(!text.includes(k));
  });
});
