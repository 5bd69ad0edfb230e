/**
 * The model repository: a directory holding one model directory per model, named by its directory (as in Triton
 * and KServe). MODEL_DIR is a repository of one model, named MODEL_NAME or after its directory. MODELS narrows what a process
 * serves; DEFAULT_MODEL is the model /predict uses without ?model=. Only metadata.json is read here.
 */
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { METADATA_FILE, readMetadata, type ModelMetadata } from './metadata.ts';
import { hasVersionDir, newestVersionDir } from './versions.ts';
import { readModelConfig, type ModelConfig } from './model-config.ts';

/** What a model name may be: it becomes part of Redis keys, URLs and metric labels. */
export const MODEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface RepositoryModel {
  /** The serving name: the directory's name. */
  name: string;
  dir: string;
  meta: ModelMetadata;
  /** Its config.json ({} without one). */
  config: ModelConfig;
}

export interface ModelRepository {
  /** The models this process serves, sorted by name. */
  readonly models: readonly RepositoryModel[];
  readonly defaultModel: string;
  get(name: string): RepositoryModel | undefined;
  /** MODEL_NOT_FOUND's message for `name`, listing the models served (as the start-up error does). */
  notFound(name: string): string;
}

export interface RepositorySettings {
  MODEL_REPOSITORY: string;
  MODEL_DIR?: string | undefined;
  MODEL_NAME?: string | undefined;
  DEFAULT_MODEL?: string | undefined;
  MODELS?: string | undefined;
}

async function modelDirs(settings: RepositorySettings): Promise<Array<{ name: string; dir: string }>> {
  if (settings.MODEL_DIR) {
    const dir = resolve(settings.MODEL_DIR);
    return [{ name: settings.MODEL_NAME ?? basename(dir), dir }];
  }
  const root = resolve(settings.MODEL_REPOSITORY);
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new Error(`cannot read the model repository ${root}: ${(err as Error).message} (run npm run setup)`);
  }
  return entries
    .filter(
      (e) =>
        e.isDirectory() &&
        MODEL_NAME.test(e.name) &&
        (existsSync(join(root, e.name, METADATA_FILE)) || hasVersionDir(join(root, e.name))),
    )
    .map((e) => ({ name: e.name, dir: join(root, e.name) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Reads the repository and checks MODELS and DEFAULT_MODEL against it; throws naming every problem. */
export async function openRepository(settings: RepositorySettings): Promise<ModelRepository> {
  const found = await modelDirs(settings);
  if (found.length === 0)
    throw new Error(
      `the model repository ${resolve(settings.MODEL_REPOSITORY)} holds no model directory with a ${METADATA_FILE}`,
    );
  const badName = found.find((m) => !MODEL_NAME.test(m.name));
  if (badName) throw new Error(`model directory ${badName.dir}: its name is not a valid model name (${MODEL_NAME})`);
  const wanted = settings.MODELS ? settings.MODELS.split(',') : found.map((m) => m.name);
  const unknown = wanted.filter((name) => !found.some((m) => m.name === name));
  if (unknown.length > 0)
    throw new Error(
      `MODELS names models the repository does not hold: ${unknown.join(', ')} (it holds ${found.map((m) => m.name).join(', ')})`,
    );
  const served = found.filter((m) => wanted.includes(m.name));
  // A versioned model's metadata here is its newest version's (labels and input for front ends and defaults).
  const models = await Promise.all(
    served.map(async (m) => ({
      ...m,
      meta: await readMetadata(newestVersionDir(m.dir)),
      config: await readModelConfig(m.dir),
    })),
  );
  const names = models.map((m) => m.name);
  const defaultModel = settings.DEFAULT_MODEL ?? (names.includes('default') ? 'default' : names[0]!);
  if (!names.includes(defaultModel))
    throw new Error(`DEFAULT_MODEL=${defaultModel} is not among the models served (${names.join(', ')})`);
  const byName = new Map(models.map((m) => [m.name, m]));
  const notFound = (name: string) =>
    `No model named "${name.slice(0, 64)}" is served here (served: ${names.join(', ')}).`;
  return { models, defaultModel, get: (name) => byName.get(name), notFound };
}
