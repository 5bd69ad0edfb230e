/**
 * Model versions in the repository. A model directory either is a model itself (it holds metadata.json: version
 * 1), or holds numbered version directories (`1/`, `2/`, ...), each a complete model directory. The model's
 * `config.json` (model-config.ts) chooses which are served (Triton's version_policy, in JSON).
 *
 * Scanning is pure I/O-and-parse; which versions a host loads and when traffic moves is host/versions code.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { METADATA_FILE } from './metadata.ts';
import { readModelConfig, type VersionPolicy } from './model-config.ts';

const VERSION_DIR = /^[1-9][0-9]{0,8}$/;

export interface VersionDir {
  version: number;
  dir: string;
}

/** What a model directory holds and which versions its policy selects. */
export interface VersionScan {
  /** Every version found, ascending. */
  versions: VersionDir[];
  policy: VersionPolicy;
  /** The versions the policy selects, ascending (a `specific` version that is absent is left out). */
  selected: VersionDir[];
  /** `specific` versions the repository does not hold. */
  missing: number[];
}

/** The versions the policy selects among those present, ascending. */
export function applyPolicy(
  present: readonly number[],
  policy: VersionPolicy,
): { selected: number[]; missing: number[] } {
  const sorted = [...new Set(present)].sort((a, b) => a - b);
  if ('all' in policy) return { selected: sorted, missing: [] };
  if ('latest' in policy) return { selected: sorted.slice(-policy.latest.num_versions), missing: [] };
  const wanted = [...new Set(policy.specific.versions)].sort((a, b) => a - b);
  return { selected: wanted.filter((v) => sorted.includes(v)), missing: wanted.filter((v) => !sorted.includes(v)) };
}

/** The numbered version directories of a model directory; a plain model directory is version 1. */
export async function listVersionDirs(modelDir: string): Promise<VersionDir[]> {
  if (existsSync(join(modelDir, METADATA_FILE))) return [{ version: 1, dir: modelDir }];
  const entries = await readdir(modelDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && VERSION_DIR.test(e.name))
    .map((e) => ({ version: Number(e.name), dir: join(modelDir, e.name) }))
    .sort((a, b) => a.version - b.version);
}

/** True when the directory is a model: a plain model directory, or one holding a numbered version. */
export async function isModelDir(dir: string): Promise<boolean> {
  if (existsSync(join(dir, METADATA_FILE))) return true;
  try {
    return (await listVersionDirs(dir)).length > 0;
  } catch {
    return false;
  }
}

export async function scanModelVersions(modelDir: string): Promise<VersionScan> {
  const [versions, config] = await Promise.all([listVersionDirs(modelDir), readModelConfig(modelDir)]);
  const { selected, missing } = applyPolicy(
    versions.map((v) => v.version),
    config.version_policy,
  );
  return {
    versions,
    policy: config.version_policy,
    selected: versions.filter((v) => selected.includes(v.version)),
    missing,
  };
}

/** Whether the directory holds a numbered version directory with a metadata.json (a versioned model). */
export function hasVersionDir(dir: string): boolean {
  return newestVersionDir(dir) !== dir;
}

/** The directory whose metadata describes the model: itself when plain, else its newest version's. */
export function newestVersionDir(dir: string): string {
  if (existsSync(join(dir, METADATA_FILE))) return dir;
  let newest = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && VERSION_DIR.test(e.name) && existsSync(join(dir, e.name, METADATA_FILE)))
        newest = Math.max(newest, Number(e.name));
    }
  } catch {
    return dir;
  }
  return newest > 0 ? join(dir, String(newest)) : dir;
}
