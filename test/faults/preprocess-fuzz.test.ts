/**
 * A bounded fuzz run of the preprocessing worker path: every format the service takes, truncated and
 * bit-flipped (test/helpers/fuzz-images.ts), through the real pool in a child process. The child must exit
 * normally (a decoder's native crash would take a model host down), every image must get an outcome, and every
 * failure must be one of the 4xx codes a bad image may get.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PER_SEED = 48; // 14 seeds: 672 mutated images, about 15 s
const ALLOWED = new Set(['ok', 'INVALID_IMAGE', 'UNSUPPORTED_MEDIA_TYPE', 'IMAGE_TOO_LARGE', 'IMAGE_TOO_COMPLEX']);

describe('preprocessing fuzz (truncated and bit-flipped images of every format)', () => {
  it('survives every case and answers each with ok or a 4xx code', async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/fuzz-child.ts', String(PER_SEED)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
      child.on('exit', (c, s) => r([c, s])),
    );
    clearTimeout(timer);
    assert.equal(signal, null, `the fuzz child died of ${signal}: ${stderr.slice(-2000)}`);
    assert.equal(code, 0, `the fuzz child exited ${code}: ${stderr.slice(-2000)}`);
    const summary = JSON.parse(stdout.trim().split('\n').pop()!) as {
      cases: number;
      outcomes: Record<string, number>;
      results: Array<{ name: string; outcome: string }>;
    };
    assert.equal(summary.results.length, summary.cases);
    assert.equal(summary.cases, 14 * PER_SEED);
    const bad = summary.results.filter((r) => !ALLOWED.has(r.outcome));
    assert.deepEqual(bad, [], 'every failure is a 4xx image code');
    assert.ok(
      (summary.outcomes.INVALID_IMAGE ?? 0) > 0 && (summary.outcomes.ok ?? 0) > 0,
      'the mutations reach both outcomes',
    );
    console.log(`# ${summary.cases} fuzzed images: ${JSON.stringify(summary.outcomes)}`);
  });
});
