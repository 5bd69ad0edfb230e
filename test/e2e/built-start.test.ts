/**
 * `npm start` runs the build in dist/: it classifies an image and no process of its tree runs tsx or esbuild (tsx
 * in any thread would start an esbuild helper process). It runs with OTEL_EXPORTER_OTLP_ENDPOINT on an in-process
 * OTLP receiver and RESPONSE_CACHE=on: a request with a traceparent gives one trace from its front end and model
 * host, and the same image again is a cache hit. A build that no longer matches its sources is refused, by the
 * service and by prod:up, naming what changed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildIfStale } from '../../scripts/build.ts';
import { STAMP_FILE, type BuildStamp } from '../../src/build/stamp.ts';
import { freePort } from '../../src/system/ports.ts';
import { processTree } from '../../src/system/processes.ts';
import { waitUntil } from '../../scripts/lib/wait.ts';
import {
  assertOneTrace,
  callerContext,
  HOST_SPANS,
  startOtlpReceiver,
  traceOf,
  type OtlpReceiver,
} from '../helpers/otlp-receiver.ts';
import { CHELSEA, PROJECT_DIR, classify } from './prod-helpers.ts';

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
};

describe('npm start runs the compiled build, with tracing and the response cache on', () => {
  let child: ChildProcess;
  let output = '';
  let url: string;
  let receiver: OtlpReceiver;

  before(async () => {
    buildIfStale();
    receiver = await startOtlpReceiver();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn('npm', ['start'], {
      cwd: PROJECT_DIR,
      detached: true, // its own process group, stopped as a terminal's Ctrl-C would
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: String(port),
        GRPC_PORT: '0',
        MODELS: 'default',
        LOG_LEVEL: 'warn',
        PREPROCESS_THREADS: '1',
        REDIS_URL: '',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        RESPONSE_CACHE: 'on',
      },
    });
    child.stdout!.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.stderr!.on('data', (b: Buffer) => {
      output += b.toString();
    });
    const until = Date.now() + 90_000;
    for (;;) {
      const status = await fetch(`${url}/readyz`).then(
        (r) => r.arrayBuffer().then(() => r.status),
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > until || child.exitCode !== null)
        throw new Error(`npm start not ready:\n${output.slice(-3000)}`);
      await sleep(100);
    }
  });

  after(async () => {
    const pgid = child.pid!;
    const members = () =>
      spawnSync('pgrep', ['-g', String(pgid)], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean);
    if (members().length > 0) process.kill(-pgid, 'SIGINT');
    const until = Date.now() + 30_000;
    while (members().length > 0 && Date.now() < until) await sleep(200);
    const left = members();
    if (left.length > 0) process.kill(-pgid, 'SIGKILL');
    await receiver?.close();
    assert.deepEqual(left, [], 'processes of npm start survived Ctrl-C');
  });

  it('classifies an image: one trace from its front end and model host; the same image again is a cache hit', async () => {
    const chelsea = await readFile(CHELSEA);
    const c = callerContext();
    const res = await classify(url, chelsea, { traceparent: c.traceparent });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.predictions[0].label, 'Neutral');
    const spans = await traceOf(receiver, c.traceId, ['POST /predict', 'admission', ...HOST_SPANS]);
    const server = assertOneTrace(spans, 'POST /predict', c.spanId);
    const service = processTree(child.pid!).find((pid) => cmdline(pid).endsWith('dist/src/main.js'));
    const pids = new Set(spans.map((s) => s.resource['process.pid']));
    assert.deepEqual([...pids], [service], 'front end and model host both in the node process npm start runs');
    assert.notEqual(
      server.resource['service.instance.id'],
      spans.find((s) => s.name === 'inference')!.resource['service.instance.id'],
    );

    const metric = async (name: string) => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`classify_response_cache_${name}{model="default"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    await waitUntil(async () => (await metric('stored_bytes_total')) > 0, 15_000, 'the entry stored');
    const again = await classify(url, chelsea);
    assert.deepEqual(await again.json(), body);
    assert.equal(await metric('hits_total'), 1);
  });

  it('runs node on dist/src/main.js, and no tsx or esbuild anywhere in its process tree', () => {
    const lines = processTree(child.pid!).map(cmdline).filter(Boolean);
    assert.ok(
      lines.some((l) => /^node .*dist\/src\/main\.js$/.test(l)),
      lines.join('\n'),
    );
    assert.deepEqual(
      lines.filter((l) => /tsx|esbuild/.test(l)),
      [],
    );
  });
});

describe('a stale build is refused', () => {
  let original: string;

  before(() => {
    buildIfStale();
    original = readFileSync(STAMP_FILE, 'utf8');
    // As if src/main.ts had changed after the build: its recorded hash no longer matches.
    const stamp = JSON.parse(original) as BuildStamp;
    stamp.inputs['src/main.ts'] = '0'.repeat(64);
    writeFileSync(STAMP_FILE, JSON.stringify(stamp));
  });
  after(() => writeFileSync(STAMP_FILE, original));

  it('by the service: exit 1, naming the changed file and the command that fixes it', () => {
    const r = spawnSync(process.execPath, ['dist/src/main.js'], {
      cwd: PROJECT_DIR,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PORT: '0', MODELS: 'default' },
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /start-up failed: dist\/ is older than its sources \(src\/main\.ts changed/);
    assert.match(r.stderr, /npm run build/);
  });

  it('by prod:up, before it starts anything', () => {
    const varDir = mkdtempSync(join(tmpdir(), 'cls-stale-'));
    try {
      const r = spawnSync('npm', ['run', '-s', 'prod:up'], {
        cwd: PROJECT_DIR,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, PROD_VAR_DIR: varDir, PM2_HOME: '' },
      });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /prod up: dist\/ is older than its sources \(src\/main\.ts changed/);
      assert.equal(existsSync(join(varDir, 'pm2', 'pm2.pid')), false, 'no PM2 daemon was started');
    } finally {
      rmSync(varDir, { recursive: true, force: true });
    }
  });
});
