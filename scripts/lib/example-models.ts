/**
 * The example model repository (EXAMPLE_REPOSITORY, git-ignored): the default model beside nsfwjs's two other
 * bundled models, for serving several models. `npm run models:examples` prepares it; tests and benchmarks that
 * need several models call ensureExampleModels(), which prepares it once and is a no-op afterwards.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_DIR } from '../../src/config/deployment.ts';

export const EXAMPLE_REPOSITORY = join(PROJECT_DIR, 'examples', 'models');
/** Written last into a prepared repository; a new number makes every existing one stale (a step was added). */
export const EXAMPLES_MARKER = '.prepared';
export const EXAMPLES_LAYOUT = '2';

export function examplesPrepared(repository = EXAMPLE_REPOSITORY): boolean {
  const marker = join(repository, EXAMPLES_MARKER);
  return existsSync(marker) && readFileSync(marker, 'utf8').trim() === EXAMPLES_LAYOUT;
}

/** Prepares the example repository unless it is already (runs `npm run models:examples`); resolves with its path. */
export async function ensureExampleModels(): Promise<string> {
  if (examplesPrepared()) return EXAMPLE_REPOSITORY;
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_DIR, 'scripts', 'models-examples.ts')], {
    cwd: PROJECT_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b));
  child.stderr.on('data', (b: Buffer) => (out += b));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0 || !examplesPrepared()) throw new Error(`npm run models:examples failed (${code}):\n${out}`);
  return EXAMPLE_REPOSITORY;
}
