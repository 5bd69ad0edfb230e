/**
 * The repository side of quantizing: which version is quantized, and publishing the result as the model's next
 * version the way the README asks an operator to (made complete aside, then renamed in), so a model host polling
 * the repository never reads half a version. A plain model directory (itself version 1) first becomes `1/`: its
 * files are linked into `1/`, and removing the top-level metadata.json is the one step that switches the layout.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { METADATA_FILE, readMetadata, type ModelMetadata } from '../../src/model/metadata.ts';
import { listVersionDirs, type VersionDir } from '../../src/model/versions.ts';
import { MODEL_CONFIG_FILE, readModelConfig } from '../../src/model/model-config.ts';

export interface SourceVersion extends VersionDir {
  meta: ModelMetadata;
  /** The metadata.json as written, so unknown fields are carried to the new version. */
  rawMeta: Record<string, unknown>;
  /** Whether the model directory is plain (its version 1 is the directory itself). */
  plain: boolean;
}

/** The version to quantize: `version` when given, else the newest float one. */
export async function sourceVersion(modelDir: string, version?: number): Promise<SourceVersion> {
  if (!existsSync(modelDir)) throw new Error(`no model directory ${modelDir}`);
  const versions = await listVersionDirs(modelDir);
  if (versions.length === 0) throw new Error(`${modelDir} holds no model version (no ${METADATA_FILE})`);
  const withMeta = await Promise.all(versions.map(async (v) => ({ ...v, meta: await readMetadata(v.dir) })));
  const chosen =
    version === undefined
      ? withMeta.filter((v) => v.meta.precision !== 'int8').at(-1)
      : withMeta.find((v) => v.version === version);
  if (!chosen)
    throw new Error(
      version === undefined
        ? `${modelDir} holds no float version to quantize (versions ${versions.map((v) => v.version).join(', ')})`
        : `${modelDir} has no version ${version} (it has ${versions.map((v) => v.version).join(', ')})`,
    );
  if (chosen.meta.precision === 'int8') throw new Error(`version ${chosen.version} is already int8`);
  if (!chosen.meta.onnx)
    throw new Error(
      `version ${chosen.version} has no ONNX model (metadata has no "onnx" entry): convert it first with npm run convert`,
    );
  const rawMeta = JSON.parse(await readFile(join(chosen.dir, METADATA_FILE), 'utf8')) as Record<string, unknown>;
  return { ...chosen, rawMeta, plain: chosen.dir === modelDir };
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/** Writes `files` into a staging directory beside the versions and renames it to `<modelDir>/<version>`. */
async function placeVersion(modelDir: string, version: number, fill: (dir: string) => Promise<void>): Promise<string> {
  const staging = join(modelDir, `.staging-${version}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging);
  try {
    await fill(staging);
    const target = join(modelDir, String(version));
    await rename(staging, target);
    return target;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Moves a plain model directory's files into `1/`; the directory keeps serving them throughout. */
async function versionPlainDir(modelDir: string): Promise<void> {
  const files = (await readdir(modelDir, { withFileTypes: true })).filter(
    (e) => e.isFile() && e.name !== MODEL_CONFIG_FILE,
  );
  await placeVersion(modelDir, 1, async (dir) => {
    for (const f of files) await linkOrCopy(join(modelDir, f.name), join(dir, f.name));
  });
  // From here the directory is versioned: 1/ is the float model it was.
  await unlink(join(modelDir, METADATA_FILE));
  for (const f of files) if (f.name !== METADATA_FILE) await rm(join(modelDir, f.name), { force: true });
}

export interface PublishInput {
  modelDir: string;
  source: SourceVersion;
  modelBytes: Uint8Array;
  /** Fields to add to the source metadata (precision, quantization). */
  metadata: Record<string, unknown>;
}

export interface Published {
  version: number;
  dir: string;
  /** A note on the version policy: which versions it serves from now on. */
  policyNote: string;
}

/**
 * Publishes the int8 model as the next version. Without a config.json, one is written that serves the two newest
 * versions, so the float version stays loaded and can be pinned (`?version=`); an existing policy is kept.
 */
export async function publishVersion(input: PublishInput): Promise<Published> {
  const { modelDir, source } = input;
  if (source.plain) await versionPlainDir(modelDir);
  const versions = await listVersionDirs(modelDir);
  const next = Math.max(0, ...versions.map((v) => v.version)) + 1;
  const { tfjs: _tfjs, onnx, ...rest } = source.rawMeta;
  const meta = {
    ...rest,
    onnx: { ...(onnx as object), file: 'model.onnx' },
    ...input.metadata,
  };
  const dir = await placeVersion(modelDir, next, async (staging) => {
    await writeFile(join(staging, 'model.onnx'), input.modelBytes);
    await writeFile(join(staging, METADATA_FILE), `${JSON.stringify(meta, null, 2)}\n`);
  });
  const configFile = join(modelDir, MODEL_CONFIG_FILE);
  let policyNote: string;
  if (!existsSync(configFile)) {
    const temp = `${configFile}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, `${JSON.stringify({ version_policy: { latest: { num_versions: 2 } } }, null, 2)}\n`);
    await rename(temp, configFile);
    policyNote = `wrote ${configFile}: the two newest versions are served (${source.version} pinnable, ${next} unpinned)`;
  } else {
    const { version_policy: policy } = await readModelConfig(modelDir);
    policyNote = `kept ${configFile} (${JSON.stringify(policy)}); version ${source.version} is pinnable only if it selects it`;
  }
  return { version: next, dir, policyNote };
}
