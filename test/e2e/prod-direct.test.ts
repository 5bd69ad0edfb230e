/** Mode 3 smoke test: `npm run prod:up -- --direct`, the PM2 cluster without nginx, front ends on PORT. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import {
  appCommandLines,
  CHELSEA,
  classify,
  type Deployment,
  makeDeployment,
  npmRun,
  prodDown,
  prodUp,
  PROJECT_DIR,
} from './prod-helpers.ts';

describe('prod direct: PM2 front ends on one port, no nginx', () => {
  let d: Deployment;
  before(async () => {
    d = await makeDeployment({ FRONTENDS: '2', MODEL_HOSTS: '1' });
    await prodUp(d, ['--direct']);
  });
  after(async () => {
    await prodDown(d);
  });

  it('serves on PORT without nginx, and new connections land on both front ends', async () => {
    assert.ok(!existsSync(join(d.varDir, 'nginx', 'logs', 'nginx.pid')), 'no nginx in direct mode');
    const chelsea = await readFile(CHELSEA);
    const res = await classify(d.frontUrl, chelsea);
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.predictions[0].label, 'Neutral');
    const servedBy = new Set<string>();
    for (let i = 0; i < 24 && servedBy.size < 2; i++) {
      // A fresh connection each time: the kernel chooses the listening process per connection.
      const dispatcher = new Agent({ pipelining: 0 });
      const r = await fetch(`${d.frontUrl}/healthz`, { dispatcher } as RequestInit);
      await r.arrayBuffer();
      servedBy.add(r.headers.get('x-served-by') ?? '');
      await dispatcher.close();
    }
    assert.equal(servedBy.size, 2, `served by: ${[...servedBy].join(', ')}`);
    const status = await npmRun(d, 'prod:status');
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /nginx: not running/);
  });

  it('runs every app from the build in dist/, with no tsx loader and no esbuild process', async () => {
    const lines = await appCommandLines(d);
    const entries = lines.filter((l) => !l.includes('redis-server')).map((l) => /\S+$/.exec(l)?.[0] ?? l);
    const expected = ['dist/src/frontend/main.js', 'dist/src/host/main.js'].map((e) => join(PROJECT_DIR, e));
    assert.deepEqual([...new Set(entries)].sort(), expected, lines.join('\n'));
    assert.deepEqual(
      lines.filter((l) => /tsx|esbuild/.test(l)),
      [],
    );
  });
});
