/**
 * `npm run build`: compiles src/, workers/, scripts/ and tools/ (tsconfig.build.json's include) to JavaScript in
 * dist/, type-checked, with every other file under those roots copied beside it (.proto, .json, .mjs assets), then
 * writes the build stamp that built entry points check (src/build/stamp.ts). New files are picked up by the roots:
 * there is no list of entry points to maintain.
 *
 *   npm run build              always builds
 *   npm run build -- --if-stale  builds only when dist/ does not match the sources
 *
 * It compiles into a fresh directory and swaps it in with two renames, so a service running from dist/ never
 * imports from a half-written tree.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_DIR, PROJECT_DIR } from '../src/build/layout.ts';
import {
  BUILD_TSCONFIG,
  type BuildStamp,
  buildRoots,
  hashInputs,
  STAMP_FILE,
  staleBuildReason,
} from '../src/build/stamp.ts';

const require = createRequire(import.meta.url);

export function build(): { ms: number; files: number } {
  const started = performance.now();
  const roots = buildRoots();
  const inputs = hashInputs(roots); // before compiling: an edit made during the build leaves it stale
  const out = join(PROJECT_DIR, `${BUILD_DIR}.building-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  try {
    const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', join(PROJECT_DIR, BUILD_TSCONFIG), '--outDir', out], {
      cwd: PROJECT_DIR,
      stdio: 'inherit',
    });
    for (const file of Object.keys(inputs).filter(
      (f) => roots.some((r) => f.startsWith(`${r}/`)) && !f.endsWith('.ts'),
    )) {
      mkdirSync(dirname(join(out, file)), { recursive: true });
      cpSync(join(PROJECT_DIR, file), join(out, file));
    }
    const version = (JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8')) as { version: string })
      .version;
    const stamp: BuildStamp = { version, builtAt: new Date().toISOString(), roots, inputs };
    writeFileSync(join(out, 'build.json'), `${JSON.stringify(stamp, null, 1)}\n`);
    const dist = join(PROJECT_DIR, BUILD_DIR);
    const old = `${dist}.old-${process.pid}`;
    if (existsSync(dist)) renameSync(dist, old);
    renameSync(out, dist);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return { ms: performance.now() - started, files: Object.keys(inputs).length };
}

/** Builds when dist/ does not match the sources (tests and benchmarks that run the production form); says why. */
export function buildIfStale(): void {
  const reason = staleBuildReason();
  if (!reason) return;
  console.log(`build: ${reason}: building`);
  build();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const reason = staleBuildReason();
  if (process.argv.includes('--if-stale') && !reason) {
    console.log(`build: ${BUILD_DIR}/ matches the sources (${STAMP_FILE})`);
  } else {
    try {
      const { ms, files } = build();
      console.log(`build: ${files} inputs compiled into ${BUILD_DIR}/ in ${(ms / 1000).toFixed(1)} s`);
    } catch (err) {
      // A failed tsc has printed its errors; anything else has not been reported yet.
      if ((err as { status?: number }).status === undefined) console.error(`build: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  }
}
