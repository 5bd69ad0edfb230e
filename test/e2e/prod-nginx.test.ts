/**
 * Mode 2 for real: `npm run prod:up` with a private Redis, 2 model hosts and 2 front ends under PM2, nginx in
 * front. Classifies through nginx, checks nginx's own JSON 413, that connections spread over both front ends
 * and batches over both model hosts, that PM2 restarts a killed process, and that `pm2 reload frontend` under
 * steady load loses no request. Everything is torn down in after(), even when a test fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CHELSEA,
  classify,
  type Deployment,
  jsonLines,
  makeDeployment,
  npmRun,
  onlinePids,
  pm2,
  prodDown,
  prodUp,
} from './prod-helpers.ts';

describe('prod behind nginx: PM2 fork-mode front ends and model hosts, private Redis, nginx', () => {
  let d: Deployment;
  let chelsea: Buffer;
  const accessLog = () => jsonLines(join(d.varDir, 'nginx', 'logs', 'access.log'));

  before(async () => {
    d = await makeDeployment({
      FRONTENDS: '2',
      MODEL_HOSTS: '2',
      LOG_LEVEL: 'debug',
      BODY_LIMIT_BYTES: String(1024 * 1024),
    });
    chelsea = await readFile(CHELSEA);
    await prodUp(d);
  });

  after(async () => {
    await prodDown(d);
  });

  it('classifies chelsea.png through nginx (Neutral first), passing X-Request-Id through both ways', async () => {
    const form = new FormData();
    form.append('image', new Blob([chelsea as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'chelsea.png');
    const res = await fetch(`${d.nginxUrl}/predict`, {
      method: 'POST',
      body: form,
      headers: { 'x-request-id': 'e2e-chelsea-1' },
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.success, true);
    assert.equal(body.predictions[0].label, 'Neutral');
    assert.equal(res.headers.get('x-request-id'), 'e2e-chelsea-1');
    assert.equal(res.headers.get('server'), 'nginx', 'server_tokens off: no version');
    assert.equal(res.headers.get('x-served-by'), null, 'the front end id is logged, not shown to clients');
    assert.equal(res.headers.get('uwebsockets'), null, 'uWS names itself; nginx hides it');
    const line = (await accessLog()).find((l) => l.request_id === 'e2e-chelsea-1');
    assert.ok(line, 'the request id is in nginx access log');
    assert.equal(line.status, 200);
    assert.match(String(line.upstream_response_time), /^\d+\.\d+$/);
    assert.match(String(line.served_by), /^fe-[0-9a-f]{8}$/);
  });

  it('refuses an oversize body in nginx itself with the service JSON error (413 BODY_TOO_LARGE)', async () => {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(2 * 1024 * 1024)]), 'big.bin');
    const res = await fetch(`${d.nginxUrl}/predict`, {
      method: 'POST',
      body: form,
      headers: { 'x-request-id': 'e2e-big-1' },
    });
    assert.equal(res.status, 413);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = await res.json();
    assert.equal(body.success, false);
    assert.equal(body.error.code, 'BODY_TOO_LARGE');
    assert.match(body.error.message, /1048576 bytes/);
    assert.equal(res.headers.get('x-request-id'), 'e2e-big-1');
    // nginx writes the access line when the connection is done (after its lingering close): wait for it.
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && !line; i++) {
      line = (await accessLog()).find((l) => l.request_id === 'e2e-big-1');
      if (!line) await sleep(100);
    }
    assert.equal(line?.status, 413);
    assert.equal(line?.upstream_addr, '', 'nginx answered without asking a front end');
  });

  it('spreads connections over both front ends (one port, SO_REUSEPORT) and batches over both model hosts', async () => {
    const frontends = new Set<string>();
    const hostPids = new Set<number>();
    for (let round = 0; round < 4 && (frontends.size < 2 || hostPids.size < 2); round++) {
      const results = await Promise.all(Array.from({ length: 16 }, () => classify(d.nginxUrl, chelsea)));
      assert.deepEqual(
        results.map((r) => r.status).filter((s) => s !== 200),
        [],
      );
      await Promise.all(results.map((r) => r.arrayBuffer()));
      for (const l of await accessLog()) if (l.served_by) frontends.add(String(l.served_by));
      // Each model host logs one debug line 'batch' per batch into its own PM2 log file.
      const logDir = join(d.varDir, 'pm2', 'logs');
      for (const f of (await readdir(logDir)).filter((n) => /^model-host-out-\d+\.log$/.test(n))) {
        for (const l of await jsonLines(join(logDir, f))) if (l.msg === 'batch') hostPids.add(Number(l.pid));
      }
    }
    assert.equal(frontends.size, 2, `front ends seen: ${[...frontends].join(', ')}`);
    assert.equal(hostPids.size, 2, `model hosts that ran batches: ${[...hostPids].join(', ')}`);
  });

  it('prod:status reports every app online and both entry points ready', async () => {
    const status = await npmRun(d, 'prod:status');
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /nginx \(pid \d+\).*→ ready/);
    assert.equal((await onlinePids(d, 'frontend')).length, 2);
    assert.equal((await onlinePids(d, 'model-host')).length, 2);
    assert.equal((await onlinePids(d, 'redis')).length, 1);
  });

  it('prod:status finds the deployment where prod:up started it, without PORT and NGINX_PORT repeated', async () => {
    const env = { ...d.env };
    delete env.PORT;
    delete env.NGINX_PORT;
    const status = await npmRun({ ...d, env }, 'prod:status');
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, new RegExp(`nginx \\(pid \\d+\\): ${d.nginxUrl}/readyz → ready`));
    assert.match(status.out, new RegExp(`front ends \\(direct\\): ${d.frontUrl}/readyz → ready`));
  });

  it('PM2 restarts a front end that crashed', async () => {
    const [victim] = await onlinePids(d, 'frontend');
    process.kill(victim!, 'SIGKILL');
    const until = Date.now() + 30_000;
    let pids: number[] = [];
    while (Date.now() < until) {
      pids = await onlinePids(d, 'frontend');
      if (pids.length === 2 && !pids.includes(victim!)) break;
      await sleep(300);
    }
    assert.equal(pids.length, 2);
    assert.ok(!pids.includes(victim!));
    const res = await classify(d.nginxUrl, chelsea);
    assert.equal(res.status, 200);
  });

  it('`pm2 reload frontend` under steady load through nginx loses no request', async () => {
    const before = await onlinePids(d, 'frontend');
    const statuses = new Map<string, number>();
    let stop = false;
    const client = async () => {
      while (!stop) {
        let key: string;
        try {
          const res = await classify(d.nginxUrl, chelsea);
          const text = await res.text();
          key = res.status === 200 ? '200' : `${res.status} ${text.slice(0, 120)}`;
        } catch (err) {
          key = `network error: ${(err as Error).cause ?? (err as Error).message}`;
        }
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    const answered = () => [...statuses.values()].reduce((a, b) => a + b, 0);
    const waitAnswered = async (n: number) => {
      for (const until = Date.now() + 60_000; answered() < n && Date.now() < until; ) await sleep(20);
    };
    const clients = Array.from({ length: 4 }, client);
    await waitAnswered(8); // the load is flowing before the reload
    const reload = await pm2(d, ['reload', 'frontend']);
    await waitAnswered(answered() + 16); // and goes on through the new front ends after it
    stop = true;
    await Promise.all(clients);
    assert.equal(reload.code, 0, reload.out);
    const after = await onlinePids(d, 'frontend');
    assert.equal(after.length, 2);
    assert.deepEqual(
      after.filter((p) => before.includes(p)),
      [],
      'every front end was replaced',
    );
    assert.deepEqual([...statuses.keys()], ['200'], JSON.stringify(Object.fromEntries(statuses)));
    assert.ok(statuses.get('200')! > 20, `only ${statuses.get('200')} requests during the reload`);
  });
});
