/** scripts/simple-request.ts (the original's simple_request) run as a child process against the live service. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function request(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/simple-request.ts', ...args], {
      cwd: ROOT,
      timeout: 20_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('scripts/simple-request.ts', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(() => svc?.close());

  it('prints ranked predictions for several files, honouring --topk', async () => {
    const { code, stdout } = await request([
      '--url',
      svc.url,
      '--topk',
      '3',
      'examples/chelsea.png',
      'examples/coffee.png',
    ]);
    assert.equal(code, 0, stdout);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'examples/chelsea.png');
    assert.match(lines[1]!, /^ {2}1\. Neutral\s+0\.\d{4}$/);
    assert.match(lines[3]!, /^ {2}3\. /);
    assert.equal(lines[4], 'examples/coffee.png');
    assert.equal(lines.length, 8);
  });

  it('without --url, finds the service on PORT as the service reads it', async () => {
    const port = new URL(svc.url).port;
    const { code, stdout } = await request(['--json', 'examples/chelsea.png'], { PORT: port });
    assert.equal(code, 0, stdout);
    assert.equal(JSON.parse(stdout)[0].success, true);
    const bad = await request(['examples/chelsea.png'], { PORT: 'eighty' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^PORT="eighty" is not a port/);
  });

  it('--json prints one document; a bad file fails alone and the exit code is 1', async () => {
    const { code, stdout } = await request(['--url', svc.url, '--json', 'examples/chelsea.png', 'package.json']);
    assert.equal(code, 1);
    const out = JSON.parse(stdout);
    assert.equal(out.length, 2);
    assert.equal(out[0].success, true);
    assert.equal(out[0].predictions[0].label, 'Neutral');
    assert.ok(out[0].requestId);
    assert.equal(out[1].success, false);
    assert.equal(out[1].status, 415);
    assert.equal(out[1].error.code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('reports usage errors and an unreachable service plainly', async () => {
    const usage = await request([]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: simple-request/);
    const down = await request(['--url', 'http://127.0.0.1:9', 'examples/chelsea.png']);
    assert.equal(down.code, 1);
    assert.match(down.stdout, /error UNREACHABLE/);
  });
});
