/**
 * The production topology reads its settings only through src/config: a bad FRONTENDS stops `prod:up` and PM2's
 * ecosystem file with the same all-problems-at-once message as a bad PORT, before anything is started.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIfStale } from '../../scripts/build.ts';
import { NODE_FLAGS } from '../../src/config/node-flags.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(args: string[], env: Record<string, string>): { status: number | null; output: string } {
  const varDir = mkdtempSync(join(tmpdir(), 'prod-settings-'));
  try {
    const r = spawnSync(process.execPath, args, {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PROD_VAR_DIR: varDir, ...env },
    });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(varDir, { recursive: true, force: true });
  }
}

const BAD = { FRONTENDS: 'abc', PORT: 'x', NGINX_PORT: '0' };
const everyBadVariable = /invalid configuration:[\s\S]*PORT="x"[\s\S]*FRONTENDS="abc"[\s\S]*NGINX_PORT="0"/;

describe('production settings', () => {
  before(buildIfStale); // prod:up and the ecosystem file run dist/
  it('prod:up refuses bad values, naming every one, before starting anything', () => {
    const { status, output } = run(['--import', 'tsx', 'scripts/prod.ts', 'up'], BAD);
    assert.equal(status, 1, output);
    assert.match(output, everyBadVariable);
    assert.doesNotMatch(output, /PM2|nginx started/);
  });

  it('the ecosystem file (what `pm2 start ecosystem.config.cjs` loads) refuses them the same way', () => {
    const { status, output } = run(['-e', 'require("./ecosystem.config.cjs")'], {
      ...BAD,
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    assert.notEqual(status, 0);
    assert.match(output, everyBadVariable);
  });

  it('the ecosystem file gives each model host the validated settings', () => {
    const { status, output } = run(['-e', 'process.stdout.write(JSON.stringify(require("./ecosystem.config.cjs")))'], {
      REDIS_URL: 'redis://127.0.0.1:1',
      FRONTENDS: '3',
      MODEL_HOSTS: '2',
      PREPROCESS_THREADS: '2',
      REQUEST_TIMEOUT_MS: '4000',
    });
    assert.equal(status, 0, output);
    const { apps } = JSON.parse(output) as {
      apps: Array<{
        name: string;
        instances: number;
        kill_timeout: number;
        args: string[];
        env: Record<string, string>;
      }>;
    };
    const byName = new Map(apps.map((a) => [a.name, a]));
    assert.equal(byName.has('redis'), false, 'REDIS_URL set: no private redis-server');
    assert.equal(byName.get('frontend')?.instances, 3);
    assert.equal(byName.get('model-host')?.instances, 2);
    assert.equal(byName.get('model-host')?.env.PREPROCESS_THREADS, '2');
    assert.equal(byName.get('model-host')?.env.REDIS_URL, 'redis://127.0.0.1:1');
    assert.equal(byName.get('frontend')?.kill_timeout, 4000 + 5000 + 2000);
    // Every app runs its compiled entry: no tsx loader (and no esbuild process) in production.
    // Production's Node options (package.json config.node_flags), as npm start passes them.
    const flags = NODE_FLAGS;
    assert.ok(readFileSync(join(ROOT, 'package.json'), 'utf8').includes('node $npm_package_config_node_flags'));
    assert.deepEqual(byName.get('model-host')?.args, [...flags, join(ROOT, 'dist/src/host/main.js')]);
    assert.deepEqual(byName.get('frontend')?.args, [...flags, join(ROOT, 'dist/src/frontend/main.js')]);
  });
});
