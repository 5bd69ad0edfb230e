/** scripts/grpc-request.ts (npm run request:grpc) run as a child process against the live service's gRPC port. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../src/system/ports.ts';
import { startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function request(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/grpc-request.ts', ...args], {
      cwd: ROOT,
      timeout: 30_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('scripts/grpc-request.ts', () => {
  let svc: TestService;
  let address: string;
  before(async () => {
    svc = await startTestService();
    address = `127.0.0.1:${svc.frontend.grpcPort}`;
  });
  after(() => svc?.close());

  it('classifies several images in one call, top k each', async () => {
    const { code, stdout, stderr } = await request([
      '--address',
      address,
      '--topk',
      '2',
      'examples/chelsea.png',
      'examples/rocket.jpg',
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^model default, version 1\n/);
    assert.match(stdout, /examples\/chelsea\.png\n {2}1\. Neutral\s+0\.9\d{3}\n {2}2\. \w+\s+0\.\d{4}\n/);
    assert.match(stdout, /examples\/rocket\.jpg\n {2}1\. \w+/);
  });

  it('finds the service on GRPC_PORT as the service reads it; --json', async () => {
    const { code, stdout } = await request(['--json', 'examples/chelsea.png'], {
      GRPC_PORT: String(svc.frontend.grpcPort),
    });
    assert.equal(code, 0);
    const body = JSON.parse(stdout);
    assert.equal(body.model_name, 'default');
    assert.equal(body.results[0].top.length, 5);
    assert.equal(body.results[0].top[0].label, 'Neutral');
  });

  it('exits 1 with the status on a failed call, 2 on bad usage', async () => {
    const missing = await request(['--address', address, '--model', 'nope', 'examples/chelsea.png']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NOT_FOUND: MODEL_NOT_FOUND: /);
    const down = await request(['--address', `127.0.0.1:${await freePort()}`, 'examples/chelsea.png']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /UNAVAILABLE/);
    assert.equal((await request(['--address', address])).code, 2);
    assert.equal((await request(['--topk', '0', 'examples/chelsea.png'])).code, 2);
    assert.equal((await request(['examples/chelsea.png'], { GRPC_PORT: 'off' })).code, 2);
  });
});
