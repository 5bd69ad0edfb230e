/**
 * npm test: every test file, in phases, so the suite stays inside CI's time as it grows.
 *
 *   1. concurrent, TEST_CONCURRENCY at a time (default 4): the unit tests, which share nothing but the CPU (each
 *      starts its own Redis on a free port, with its own key prefix and temporary directories) and time nothing
 *      against a deadline;
 *   2. two at a time: the functional suites in PAIRED, which check answers, not timing, under the 10 s default
 *      deadline, on their own ports, Redis and temporary directories; much of their time is spent waiting for a
 *      model repository's poll, a child process or a steady load, so two overlap well on 2 cores;
 *   3. one at a time: everything else. These time deadlines, rates or event-loop turns, kill or restart processes,
 *      bound memory, or hold machine-wide resources (nginx under PM2, network namespaces, Redis topologies, the
 *      built dist/). Run three at a time on a busy 2-core machine, inference suites answered 504 and saw Redis time
 *      out: they cannot share the CPU and keep their timing;
 *   4. HTTP_SERVER=node: the suites whose answers depend on the HTTP server, again on node:http (the PAIRED ones
 *      two at a time, the rest alone).
 *
 * `npm test -- <files>` runs just those files (one at a time); `npm run test:http-node` runs phase 3 alone.
 * Every phase runs even if one before it failed; the exit code is non-zero if any did. The example models are
 * prepared first, once, so no two files race to.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MALLOC_ARENA_MAX_FOR_HOSTS, UV_THREADPOOL_FOR_HOSTS } from '../src/config/uv-threads.ts';
import { PROJECT_DIR } from '../src/config/deployment.ts';
import { ensureExampleModels } from './lib/example-models.ts';

/** Phase 1: see the header. */
const TOGETHER = ['test/unit/'];

/** Phase 2: see the header. A suite that times something, or holds a machine-wide resource, does not belong here. */
const PAIRED = [
  'test/integration/grpc-protocol.test.ts',
  'test/integration/grpc-request.test.ts',
  'test/integration/host-health.test.ts',
  'test/integration/hostile-v2.test.ts',
  'test/integration/inference-client.test.ts',
  'test/integration/logs.test.ts',
  'test/integration/management-api.test.ts',
  'test/integration/metrics.test.ts',
  'test/integration/model-routing.test.ts',
  'test/integration/model-versions.test.ts',
  'test/integration/models-and-multi.test.ts',
  'test/integration/onnx-engine.test.ts',
  'test/integration/openapi.test.ts',
  'test/integration/predict-api.test.ts',
  'test/integration/preprocess-fidelity.test.ts',
  'test/integration/prod-settings.test.ts',
  'test/integration/quantize.test.ts',
  'test/integration/queue-metrics.test.ts',
  'test/integration/response-cache.test.ts',
  'test/integration/route-failures.test.ts',
  'test/integration/simple-request.test.ts',
  'test/integration/tfjs-engine-service.test.ts',
  'test/integration/tracing.test.ts',
  'test/integration/v2-protocol.test.ts',
];

/** Phase 4: the suites that exercise the HTTP server's own behaviour, run again on node:http. */
const ON_NODE_HTTP = [
  'test/integration/predict-api.test.ts',
  'test/integration/models-and-multi.test.ts',
  'test/integration/openapi.test.ts',
  'test/integration/logs.test.ts',
  'test/integration/no-host-and-deadline.test.ts',
  'test/integration/hostile-input.test.ts',
  'test/integration/v2-protocol.test.ts',
  'test/faults/client-gone.test.ts',
  'test/faults/deadlines.test.ts',
  'test/faults/graceful-shutdown.test.ts',
  'test/faults/host-kill.test.ts',
  'test/faults/redis-restart.test.ts',
];

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? testFiles(path) : name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

function runNodeTest(files: string[], concurrency: number, env: Record<string, string> = {}): Promise<boolean> {
  if (files.length === 0) return Promise.resolve(true);
  const args = ['--import', 'tsx', '--import', './test/helpers/unhandled-errors.mjs', '--test', '--test-force-exit'];
  const child = spawn(process.execPath, [...args, `--test-concurrency=${concurrency}`, ...files], {
    cwd: PROJECT_DIR,
    stdio: 'inherit',
    env: {
      ...process.env,
      UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(UV_THREADPOOL_FOR_HOSTS),
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? String(MALLOC_ARENA_MAX_FOR_HOSTS),
      ...env,
    },
  });
  return new Promise((resolve) => child.once('close', (code) => resolve(code === 0)));
}

/** Phase 4: PAIRED suites two at a time, then the others alone, all on node:http. */
async function runOnNodeHttp(): Promise<boolean> {
  const env = { HTTP_SERVER: 'node' };
  const paired = await runNodeTest(
    ON_NODE_HTTP.filter((f) => PAIRED.includes(f)),
    2,
    env,
  );
  const alone = await runNodeTest(
    ON_NODE_HTTP.filter((f) => !PAIRED.includes(f)),
    1,
    env,
  );
  return paired && alone;
}

const onlyNodeHttp = process.argv.includes('--http-node');
const chosen = process.argv.slice(2).filter((a) => a !== '--http-node');
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 4);
if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('TEST_CONCURRENCY must be a positive integer');

await ensureExampleModels();
let ok: boolean;
if (onlyNodeHttp) {
  ok = await runOnNodeHttp();
} else if (chosen.length > 0) {
  ok = await runNodeTest(chosen, 1);
} else {
  const all = testFiles(join(PROJECT_DIR, 'test')).map((f) => relative(PROJECT_DIR, f));
  const together = all.filter((f) => TOGETHER.some((p) => f.startsWith(p)));
  const paired = all.filter((f) => PAIRED.includes(f));
  const alone = all.filter((f) => !together.includes(f) && !paired.includes(f));
  const missing = PAIRED.filter((f) => !all.includes(f));
  if (missing.length > 0) throw new Error(`PAIRED names files that do not exist: ${missing.join(', ')}`);
  const phases: Array<[string, () => Promise<boolean>]> = [
    [`${together.length} files, ${concurrency} at a time`, () => runNodeTest(together, concurrency)],
    [`${paired.length} files, two at a time`, () => runNodeTest(paired, 2)],
    [`${alone.length} files, one at a time`, () => runNodeTest(alone, 1)],
    [`${ON_NODE_HTTP.length} files on HTTP_SERVER=node`, runOnNodeHttp],
  ];
  ok = true;
  for (const [what, run] of phases) {
    const started = Date.now();
    console.log(`# npm test: ${what}`);
    const passed = await run();
    console.log(
      `# npm test: ${what}: ${passed ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    ok &&= passed;
  }
}
process.exitCode = ok ? 0 : 1;
