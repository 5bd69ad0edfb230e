/**
 * Where the project's code runs from: its TypeScript under tsx (tests, `npm run dev`) or the JavaScript that
 * `npm run build` compiles into dist/ (`npm start`, the PM2 apps, the container). Every mapping between the two
 * forms lives here.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_FLAGS } from '../config/node-flags.ts';

/** The compiled tree under the project root: tsconfig.build.json's outDir. */
export const BUILD_DIR = 'dist';

const HERE = fileURLToPath(import.meta.url);
/** Whether this process runs the compiled JavaScript (this very module is then a .js file in dist/). */
export const RUNNING_BUILT = HERE.endsWith('.js');

/** The directory of package.json: the same for src/build/layout.ts and dist/src/build/layout.js. */
function projectDirAbove(file: string): string {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${file}`);
  }
}

export const PROJECT_DIR = projectDirAbove(HERE);

/** The compiled form of a project file given by its source path: `src/host/main.ts` → `<project>/dist/src/host/main.js`. */
export function builtPath(sourcePath: string): string {
  return join(PROJECT_DIR, BUILD_DIR, sourcePath.replace(/\.ts$/, '.js'));
}

/** A project file in the form this process runs: the TypeScript source under tsx, else its build. */
export function runnablePath(sourcePath: string): string {
  return RUNNING_BUILT ? builtPath(sourcePath) : join(PROJECT_DIR, sourcePath);
}

/**
 * The Node arguments that run a project entry point: the build directly, with production's Node options
 * (node-flags.ts), or the source through tsx. `extra` options come after production's, so they win.
 */
export function nodeArgsFor(sourcePath: string, built: boolean, extra: readonly string[] = []): string[] {
  return built
    ? [...NODE_FLAGS, ...extra, builtPath(sourcePath)]
    : [...extra, '--import', 'tsx', join(PROJECT_DIR, sourcePath)];
}

/**
 * How to start a worker thread on a project module (`workers/inference.ts`): compiled, the module itself; under
 * tsx, a bootstrap that registers tsx first, since Node 20 worker threads do not inherit it, then imports `entry`.
 */
export function workerScript(sourcePath: string): { filename: string; entry?: string } {
  if (RUNNING_BUILT) return { filename: builtPath(sourcePath) };
  return {
    filename: join(PROJECT_DIR, 'workers', 'ts-entry.mjs'),
    entry: pathToFileURL(join(PROJECT_DIR, sourcePath)).href,
  };
}
