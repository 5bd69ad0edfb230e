/**
 * Mode 1 smoke test: `npm run dev` (front end + model host + embedded Redis in one process tree, restarted by
 * node --watch on changes under src/ and workers/). Ctrl-C (SIGINT to the process group) leaves nothing behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFile, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/system/ports.ts';
import { CHELSEA, PROJECT_DIR, classify } from './prod-helpers.ts';

function groupMembers(pgid: number): number[] {
  try {
    return execFileSync('pgrep', ['-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe('npm run dev', () => {
  let child: ChildProcess;
  let output = '';
  let url: string;
  const servingCount = () => output.split('serving on http://').length - 1;
  const waitServing = async (n: number) => {
    const until = Date.now() + 60_000;
    while (servingCount() < n) {
      if (Date.now() > until || child.exitCode !== null)
        throw new Error(`dev did not serve (${n}):\n${output.slice(-3000)}`);
      await sleep(200);
    }
  };

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // detached: its own process group, signalled as a terminal's Ctrl-C would.
    child = spawn('npm', ['run', '-s', 'dev'], {
      cwd: PROJECT_DIR,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: String(port),
        GRPC_PORT: '0',
        LOG_LEVEL: 'warn',
        PREPROCESS_THREADS: '1',
        REDIS_URL: '',
      },
    });
    child.stdout!.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.stderr!.on('data', (b: Buffer) => {
      output += b.toString();
    });
    await waitServing(1);
  });

  after(async () => {
    const pgid = child.pid!;
    if (groupMembers(pgid).length > 0) process.kill(-pgid, 'SIGINT');
    const until = Date.now() + 30_000;
    while (groupMembers(pgid).length > 0 && Date.now() < until) await sleep(200);
    const left = groupMembers(pgid);
    if (left.length > 0) process.kill(-pgid, 'SIGKILL');
    assert.deepEqual(left, [], 'processes of npm run dev survived Ctrl-C');
  });

  it('serves, restarts when a watched file changes, and serves again', async () => {
    const chelsea = await readFile(CHELSEA);
    const first = await classify(url, chelsea);
    assert.equal(first.status, 200);
    assert.equal((await first.json()).predictions[0].label, 'Neutral');
    // A change under src/ (the mtime is enough; the content stays as it is).
    const now = new Date();
    await utimes(new URL('src/main.ts', `file://${PROJECT_DIR}`), now, now);
    await waitServing(2);
    const second = await classify(url, chelsea);
    assert.equal(second.status, 200);
  });
});
