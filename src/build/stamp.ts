/**
 * The build stamp: `npm run build` records a hash of every input it compiled (dist/build.json), and each built
 * entry point compares them with the sources beside it before starting, so a stale dist/ is never served silently.
 * Content, not mtimes: a checkout or `touch` that changes no byte is not stale, an edit that keeps the mtime is.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BUILD_DIR, PROJECT_DIR, RUNNING_BUILT } from './layout.ts';

export const STAMP_FILE = join(PROJECT_DIR, BUILD_DIR, 'build.json');
/** The build's configuration: its include list names the source roots. */
export const BUILD_TSCONFIG = 'tsconfig.build.json';
/** Besides the roots, the files whose bytes change what the build emits. */
const CONFIG_FILES = ['tsconfig.json', BUILD_TSCONFIG];

export interface BuildStamp {
  version: string;
  builtAt: string;
  /** Source roots relative to the project (tsconfig.build.json's include). */
  roots: string[];
  /** sha256 of every input file, by path relative to the project. */
  inputs: Record<string, string>;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** The hash of each build input as it is now in the project. */
export function hashInputs(roots: string[]): Record<string, string> {
  const files = [
    ...CONFIG_FILES.map((f) => join(PROJECT_DIR, f)).filter((f) => existsSync(f)),
    ...roots.flatMap((r) => filesUnder(join(PROJECT_DIR, r))),
  ];
  const inputs: Record<string, string> = {};
  for (const f of files.sort())
    inputs[relative(PROJECT_DIR, f)] = createHash('sha256').update(readFileSync(f)).digest('hex');
  return inputs;
}

/** The source roots the build compiles, read from tsconfig.build.json. */
export function buildRoots(): string[] {
  return (JSON.parse(readFileSync(join(PROJECT_DIR, BUILD_TSCONFIG), 'utf8')) as { include: string[] }).include;
}

export function readStamp(): BuildStamp | undefined {
  try {
    return JSON.parse(readFileSync(STAMP_FILE, 'utf8')) as BuildStamp;
  } catch {
    return undefined;
  }
}

/** Input files that differ between two hash sets: changed, added or removed. */
export function changedInputs(built: Record<string, string>, now: Record<string, string>): string[] {
  const paths = new Set([...Object.keys(built), ...Object.keys(now)]);
  return [...paths].filter((p) => built[p] !== now[p]).sort();
}

/**
 * Why the build in dist/ does not match the sources beside it, or undefined when it does. A deployment that ships
 * dist/ without its sources (the container image) has nothing to compare and counts as built.
 */
export function staleBuildReason(): string | undefined {
  const stamp = readStamp();
  if (!stamp) return `${BUILD_DIR}/ holds no complete build (no ${relative(PROJECT_DIR, STAMP_FILE)})`;
  if (!stamp.roots.some((r) => existsSync(join(PROJECT_DIR, r)))) return undefined;
  const changed = changedInputs(stamp.inputs, hashInputs(stamp.roots));
  if (changed.length === 0) return undefined;
  const named = changed.slice(0, 3).join(', ') + (changed.length > 3 ? ` and ${changed.length - 3} more` : '');
  return `${BUILD_DIR}/ is older than its sources (${named} changed since the build of ${stamp.builtAt})`;
}

/** Throws when this process runs a build its sources have moved past; a no-op under tsx. */
export function assertFreshBuild(): void {
  if (!RUNNING_BUILT) return;
  const reason = staleBuildReason();
  if (reason) throw new Error(`${reason}: run \`npm run build\`, or \`npm run dev\` to run the sources`);
}

/** For command-line tools: prints why the build is stale, as `<command>: <reason>`, and exits 1. */
export function exitIfStaleBuild(command: string): void {
  try {
    assertFreshBuild();
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
