/**
 * Ctrl-C on `npm start` as a terminal sends it: SIGINT to the whole foreground process group (npm, node, and
 * whatever they started in that group). The service exits 0 within 10 s, logs nothing at warn level or above,
 * and leaves no process behind: its private redis-server runs outside the group, so it is not interrupted first
 * (which made every connection log errors on the way down), and is stopped last.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { buildIfStale } from '../../scripts/build.ts';
import { freePort } from '../../src/system/ports.ts';
import { alive, processTree } from '../../src/system/processes.ts';
import { PROJECT_DIR } from './prod-helpers.ts';
import { waitUntil } from '../helpers/processes.ts';

describe('Ctrl-C on npm start', () => {
  let child: ChildProcess | undefined;
  let tree: number[] = [];
  after(() => {
    for (const pid of tree) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('exits 0 within 10 s, logs no warning or error, and leaves nothing running', async () => {
    buildIfStale();
    const port = await freePort();
    child = spawn('npm', ['start'], {
      cwd: PROJECT_DIR,
      detached: true, // its own process group: the terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: String(port), GRPC_PORT: '0', MODELS: 'default', LOG_LEVEL: 'info', REDIS_URL: '' },
    });
    const lines: string[] = [];
    let partial = '';
    const collect = (b: Buffer) => {
      const text = partial + b.toString();
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l.trim()));
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<number | string | null>((resolve) =>
      child!.once('exit', (code, sig) => resolve(code ?? sig)),
    );
    await waitUntil(() => lines.some((l) => l.startsWith('serving on')), 120_000, 'npm start to serve');
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    await res.arrayBuffer();
    tree = processTree(child.pid!);
    assert.ok(tree.length >= 3, `npm, node and redis-server run: ${tree.join(', ')}`);

    const interruptedAt = Date.now();
    process.kill(-child.pid!, 'SIGINT');
    const code = await exited;
    const tookMs = Date.now() - interruptedAt;
    await waitUntil(() => tree.every((pid) => !alive(pid)), 10_000, 'every process of the tree to be gone');
    assert.equal(code, 0, `exit code; output:\n${lines.slice(-20).join('\n')}`);
    assert.ok(tookMs < 10_000, `exited in ${tookMs} ms`);
    // The service's log lines at warn level or above, and any other line naming an error (npm's own notices about
    // the project's .npmrc are not the service's).
    const loud = lines.filter((l) =>
      l.startsWith('{') ? (JSON.parse(l) as { level: number }).level >= 40 : /error|fail/i.test(l),
    );
    assert.deepEqual(loud, [], 'nothing logged at warn level or above, no error');
    console.log(`# Ctrl-C: exit 0 in ${tookMs} ms, ${tree.length} processes stopped`);
  });
});
