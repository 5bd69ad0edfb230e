/**
 * Calibration and validation samples: image files of a directory, sorted by name, split so that the validation
 * images never calibrate, each turned into the model's input by the model's own declared preprocessing (the code
 * the service runs). A small set is stretched with deterministic views (mirror, centre and corner crops) of each
 * image, so that a dozen pictures still give the calibration a spread of activations.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { imageElements, type ModelMetadata } from '../../src/model/metadata.ts';
import { createPreprocessor, type PreprocessSettings } from '../../src/preprocess/preprocess-image.ts';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** One view of an image: a window of it (fractions of its size), optionally mirrored. */
interface View {
  name: string;
  left: number;
  top: number;
  size: number;
  mirror: boolean;
}

const VIEWS: readonly View[] = [
  { name: 'full', left: 0, top: 0, size: 1, mirror: false },
  { name: 'mirrored', left: 0, top: 0, size: 1, mirror: true },
  { name: 'centre 80%', left: 0.1, top: 0.1, size: 0.8, mirror: false },
  { name: 'top-left 70%', left: 0, top: 0, size: 0.7, mirror: false },
  { name: 'bottom-right 70% mirrored', left: 0.3, top: 0.3, size: 0.7, mirror: true },
  { name: 'top-right 70%', left: 0.3, top: 0, size: 0.7, mirror: false },
  { name: 'bottom-left 70% mirrored', left: 0, top: 0.3, size: 0.7, mirror: true },
  { name: 'centre 60% mirrored', left: 0.2, top: 0.2, size: 0.6, mirror: true },
];

/** Views of each validation image in the fidelity report. */
const VALIDATION_VIEWS = 2;

export interface SampleRef {
  file: string;
  view: View;
}

export interface SampleSplit {
  calibration: SampleRef[];
  validation: SampleRef[];
  /** Files calibrated on, and files kept apart for validation (names only). */
  calibrationFiles: string[];
  validationFiles: string[];
}

export async function listImages(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(resolve(dir));
  } catch (err) {
    throw new Error(`cannot read the image directory ${dir}: ${(err as Error).message}`);
  }
  return names
    .filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase()))
    .sort()
    .map((n) => join(resolve(dir), n));
}

/**
 * `samples` calibration samples: the first view of every calibration file, then the next view of each, and so
 * on; with more files than samples, files evenly spaced by name.
 */
export function pickSamples(files: readonly string[], samples: number): SampleRef[] {
  if (files.length === 0) return [];
  if (files.length >= samples)
    return Array.from({ length: samples }, (_, i) => ({
      file: files[Math.floor((i * files.length) / samples)]!,
      view: VIEWS[0]!,
    }));
  const refs: SampleRef[] = [];
  for (let v = 0; v < VIEWS.length && refs.length < samples; v++)
    for (const file of files) if (refs.length < samples) refs.push({ file, view: VIEWS[v]! });
  return refs;
}

/**
 * Splits the calibration directory: every `holdOut`-th image by name is kept for validation, unless a separate
 * validation directory is given (then every calibration image calibrates).
 */
export async function splitSamples(opts: {
  calibrationDir: string;
  validationDir?: string | undefined;
  samples: number;
  holdOut: number;
}): Promise<SampleSplit> {
  const files = await listImages(opts.calibrationDir);
  let calibrationFiles = files;
  let validationFiles: string[];
  if (opts.validationDir) {
    validationFiles = await listImages(opts.validationDir);
    const overlap = validationFiles.filter((f) => calibrationFiles.includes(f));
    if (overlap.length > 0) throw new Error(`validation images are also calibration images: ${overlap.join(', ')}`);
  } else {
    validationFiles = files.filter((_, i) => i % opts.holdOut === opts.holdOut - 1);
    calibrationFiles = files.filter((f) => !validationFiles.includes(f));
  }
  if (calibrationFiles.length === 0) throw new Error(`no calibration images in ${opts.calibrationDir}`);
  if (validationFiles.length === 0)
    throw new Error(
      `no validation images: ${opts.calibrationDir} holds ${files.length} image(s), too few to keep every ` +
        `${opts.holdOut}th apart; add images or give --validation DIR`,
    );
  const validation = validationFiles.flatMap((file) =>
    VIEWS.slice(0, VALIDATION_VIEWS).map((view) => ({ file, view })),
  );
  return { calibration: pickSamples(calibrationFiles, opts.samples), validation, calibrationFiles, validationFiles };
}

export function sampleName(ref: SampleRef): string {
  const base = ref.file.split('/').pop()!;
  return ref.view === VIEWS[0] ? base : `${base} (${ref.view.name})`;
}

async function viewBytes(bytes: Buffer, view: View): Promise<Buffer> {
  if (view === VIEWS[0]) return bytes;
  const { width, height, orientation } = await sharp(bytes).metadata();
  // rotate() applies the EXIF orientation first: orientations 5-8 swap the sides the window is taken from.
  const [w, h] = (orientation ?? 1) >= 5 ? [height!, width!] : [width!, height!];
  let out = sharp(bytes, { failOn: 'error' })
    .rotate()
    .extract({
      left: Math.floor(view.left * w),
      top: Math.floor(view.top * h),
      width: Math.max(1, Math.floor(view.size * w)),
      height: Math.max(1, Math.floor(view.size * h)),
    });
  if (view.mirror) out = out.flop();
  return out.png().toBuffer();
}

/** Preprocesses samples into one Float32Array of model inputs, in order. */
export async function loadSamples(
  refs: readonly SampleRef[],
  meta: ModelMetadata,
  settings: PreprocessSettings,
): Promise<Float32Array> {
  const size = imageElements(meta);
  const out = new Float32Array(size * refs.length);
  const preprocess = createPreprocessor(meta, settings);
  const cache = new Map<string, Buffer>();
  for (const [i, ref] of refs.entries()) {
    let bytes = cache.get(ref.file);
    if (!bytes) cache.set(ref.file, (bytes = await readFile(ref.file)));
    try {
      await preprocess(await viewBytes(bytes, ref.view), out, i * size);
    } catch (err) {
      throw new Error(`cannot preprocess ${sampleName(ref)}: ${(err as Error).message}`);
    }
  }
  return out;
}
