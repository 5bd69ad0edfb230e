/** The test harness's guard (test/helpers/unhandled-errors.mjs): an unhandled 'error' event fails the test. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUARD = fileURLToPath(new URL('../helpers/unhandled-errors.mjs', import.meta.url));

/** Runs one test file under node:test the way `npm test` does; returns its exit status and output. */
function runTestFile(source: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'unhandled-'));
  try {
    const file = join(dir, 'probe.test.mjs');
    writeFileSync(file, source);
    // NODE_TEST_CONTEXT would make the child think it runs inside this test run, and skip the file.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', GUARD, '--test', file], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('unhandled error events fail the test', () => {
  it('an ioredis client with no error listener that fails to connect', () => {
    const { status, output } = runTestFile(`
      import { it } from 'node:test';
      import { createRequire } from 'node:module';
      const { Redis } = createRequire(${JSON.stringify(ROOT + 'package.json')})('ioredis');
      it('connects to nothing', async () => {
        const client = new Redis({ port: 1, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        await client.connect().catch(() => {});
        await new Promise((r) => setTimeout(r, 200));
        client.disconnect();
      });
    `);
    assert.notEqual(status, 0, output);
    assert.match(output, /ioredis client emitted 'error' with no listener/);
  });

  it('an EventEmitter with no error listener', () => {
    const { status } = runTestFile(`
      import { it } from 'node:test';
      import { EventEmitter } from 'node:events';
      it('emits', async () => {
        const e = new EventEmitter();
        setTimeout(() => e.emit('error', new Error('boom')), 10);
        await new Promise((r) => setTimeout(r, 100));
      });
    `);
    assert.notEqual(status, 0);
  });

  it('a handled error passes', () => {
    const { status, output } = runTestFile(`
      import { it } from 'node:test';
      import { EventEmitter } from 'node:events';
      it('emits', () => {
        const e = new EventEmitter();
        e.on('error', () => {});
        e.emit('error', new Error('handled'));
      });
    `);
    assert.equal(status, 0, output);
  });
});
