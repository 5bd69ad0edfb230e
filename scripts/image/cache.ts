/**
 * The image build's cache: each step's output in a directory named after a hash of its inputs, so a rebuild redoes
 * only the steps whose inputs changed, and podman's layer cache then reuses every layer whose files are the same.
 * IMAGE_CACHE_DIR (default var/image-cache, git-ignored) holds it; deleting it forces a full build.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_DIR } from '../../src/build/layout.ts';

export const CACHE_DIR = process.env.IMAGE_CACHE_DIR || join(PROJECT_DIR, 'var', 'image-cache');

export function keyOf(...parts: Array<string | Buffer>): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** A key over the path and bytes of every file at or under the given project paths. */
export function keyOfPaths(paths: string[]): string {
  const files = paths.flatMap((p) => {
    const abs = join(PROJECT_DIR, p);
    if (!statSync(abs).isDirectory()) return [abs];
    return readdirSync(abs, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
  });
  return keyOf(...files.sort().flatMap((f) => [f.slice(PROJECT_DIR.length), readFileSync(f)]));
}

/** Removes the outputs of steps whose inputs have since changed: every `<name>-<key>` but the ones in use. */
export function dropStale(inUse: string[]): void {
  const keep = new Set(inUse);
  for (const entry of existsSync(CACHE_DIR) ? readdirSync(CACHE_DIR) : []) {
    const path = join(CACHE_DIR, entry);
    if (/^(rootfs|node|modules|model)-[^.]+$/.test(entry) && !keep.has(path))
      rmSync(path, { recursive: true, force: true });
  }
}

export interface StepResult {
  dir: string;
  cached: boolean;
  ms: number;
}

/** The directory of step `name` for `key`: made by `produce` into a temporary directory, renamed when complete. */
export async function cachedStep(
  name: string,
  key: string,
  produce: (dir: string) => Promise<void>,
): Promise<StepResult> {
  const dir = join(CACHE_DIR, `${name}-${key}`);
  const started = performance.now();
  if (existsSync(dir)) return { dir, cached: true, ms: 0 };
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  try {
    await produce(building);
    renameSync(building, dir);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return { dir, cached: false, ms: performance.now() - started };
}
