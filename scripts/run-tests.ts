/**
 * npm test: every test file, in phases, so the suite stays inside CI's time as it grows.
 *
 *   1. concurrent, TEST_CONCURRENCY at a time (default 4): the unit tests, which share nothing but the CPU (each
 *      starts its own Redis on a free port, with its own key prefix and temporary directories) and time nothing
 *      against a deadline;
 *   2. one at a time: everything else. These run the model against deadlines, kill or restart processes, or hold
 *      machine-wide resources (nginx, PM2, network namespaces, Redis topologies, the built dist/). Run three at a
 *      time on a busy 2-core machine, inference suites answered 504 and saw Redis time out: on 2 cores they cannot
 *      share the CPU and keep their timing;
 *   3. one at a time, HTTP_SERVER=node: the suites whose answers depend on the HTTP server, again on node:http.
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

/** Phase 3: the suites that exercise the HTTP server's own behaviour, run again on node:http. */
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

const onlyNodeHttp = process.argv.includes('--http-node');
const chosen = process.argv.slice(2).filter((a) => a !== '--http-node');
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 4);
if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('TEST_CONCURRENCY must be a positive integer');

await ensureExampleModels();
let ok: boolean;
if (onlyNodeHttp) {
  ok = await runNodeTest(ON_NODE_HTTP, 1, { HTTP_SERVER: 'node' });
} else if (chosen.length > 0) {
  ok = await runNodeTest(chosen, 1);
} else {
  const all = testFiles(join(PROJECT_DIR, 'test')).map((f) => relative(PROJECT_DIR, f));
  const together = all.filter((f) => TOGETHER.some((p) => f.startsWith(p)));
  const alone = all.filter((f) => !together.includes(f));
  const phases: Array<[string, () => Promise<boolean>]> = [
    [`${together.length} files, ${concurrency} at a time`, () => runNodeTest(together, concurrency)],
    [`${alone.length} files, one at a time`, () => runNodeTest(alone, 1)],
    [`${ON_NODE_HTTP.length} files on HTTP_SERVER=node`, () => runNodeTest(ON_NODE_HTTP, 1, { HTTP_SERVER: 'node' })],
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
