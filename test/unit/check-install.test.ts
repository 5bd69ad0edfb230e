/** scripts/check-install.mjs: a clone without `npm run setup` is told so in one line, before anything is resolved. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CHECK = new URL('../../scripts/check-install.mjs', import.meta.url);

async function start(cwd: string, main: string): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ['--import', './scripts/check-install.mjs', main], { cwd });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('check-install', () => {
  it('names node_modules and the compiled entry when a fresh clone has neither', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'check-install-'));
    try {
      await mkdir(join(dir, 'scripts'));
      await copyFile(CHECK, join(dir, 'scripts', 'check-install.mjs'));
      const { code, stderr } = await start(dir, 'dist/src/main.js');
      assert.equal(code, 1);
      assert.equal(
        stderr.trim(),
        'Not set up yet (missing: node_modules, dist/src/main.js): run `npm run setup` first (README, Quick start).',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lets a set-up project through', async () => {
    const { code, stderr } = await start(new URL('../..', import.meta.url).pathname, 'scripts/check-install.mjs');
    assert.equal(code, 0, stderr);
  });
});
