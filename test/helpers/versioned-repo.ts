/**
 * A model repository of versioned copies of the default model for version tests, without copying its weights:
 * each version directory links to models/default's files and has its own metadata.json. A `rotated` version
 * lists the labels rotated by one, so its answers tell which version ran; a `broken` one has unreadable model
 * files, so it fails to load. Versions are published the way an operator should: made aside, then renamed in.
 */
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/default/', import.meta.url));
const MODEL_FILES = ['model.json', 'group1-shard1of1.bin', 'model.onnx'];

export type VersionKind = 'normal' | 'rotated' | 'broken';

export async function defaultLabels(): Promise<string[]> {
  return (JSON.parse(await readFile(join(DEFAULT_MODEL, 'metadata.json'), 'utf8')) as { labels: string[] }).labels;
}

/** Makes `<modelDir>/<version>/` complete beside the repository, then renames it into place. */
export async function publishVersion(modelDir: string, version: number, kind: VersionKind): Promise<void> {
  await mkdir(modelDir, { recursive: true });
  const staging = join(modelDir, `.staging-${version}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging);
  const meta = JSON.parse(await readFile(join(DEFAULT_MODEL, 'metadata.json'), 'utf8')) as { labels: string[] };
  if (kind === 'rotated') meta.labels = [...meta.labels.slice(1), meta.labels[0]!];
  await writeFile(join(staging, 'metadata.json'), JSON.stringify(meta, null, 2));
  for (const file of MODEL_FILES) {
    if (kind === 'broken') await writeFile(join(staging, file), 'not a model');
    else await symlink(join(DEFAULT_MODEL, file), join(staging, file));
  }
  await rename(staging, join(modelDir, String(version)));
}

/** Removes a version directory (a rollback by removing the newest version). */
export async function withdrawVersion(modelDir: string, version: number): Promise<void> {
  await rm(join(modelDir, String(version)), { recursive: true, force: true });
}
