/**
 * Preprocessing pipelines compared by the micro-benchmark. `current` is a copy of workers/preprocess.ts; the
 * others each change one thing. Every variant writes NHWC float32 into a slot, like the product worker.
 */
import sharp from 'sharp';
import type { ModelMetadata } from '../../src/model/metadata.ts';

export const VARIANTS = {
  /** workers/preprocess.ts as it is: rotate, flatten, sRGB, resize fill (fastShrinkOnLoad), uchar, JS normalise loop. */
  current: 'product pipeline (sharp.concurrency 1)',
  /** JPEG shrink-on-load off: shows what libvips' shrink-on-load saves on large JPEGs. */
  'no-shrink-on-load': 'fastShrinkOnLoad: false',
  /** sharp.concurrency(2): libvips may use 2 threads per image. */
  'concurrency-2': 'sharp.concurrency(2)',
  /** A cheaper resampling kernel (bilinear instead of lanczos3): changes pixels slightly. */
  'kernel-linear': 'resize kernel linear instead of lanczos3',
  /** Without rotate/flatten/toColourspace (not safe for every input: for reference only). */
  'bare-resize': 'resize + removeAlpha only (reference, unsafe for CMYK/EXIF)',
} as const;

export type Variant = keyof typeof VARIANTS;

export interface VariantData {
  input: ModelMetadata['input'];
  preprocessing: ModelMetadata['preprocessing'];
}

export function makePreprocessor(variant: Variant, { input, preprocessing }: VariantData) {
  const planeSize = input.height * input.width;
  const mul = [0, 1, 2].map((c) => preprocessing.scale / preprocessing.std[c]!);
  const add = [0, 1, 2].map((c) => -preprocessing.mean[c]! / preprocessing.std[c]!);
  const concurrency = variant === 'concurrency-2' ? 2 : 1;

  function writeSlot(rgb: Buffer, out: Float32Array, offset: number): void {
    const [m0, m1, m2] = mul as [number, number, number];
    const [a0, a1, a2] = add as [number, number, number];
    for (let p = 0, o = offset; p < planeSize; p++, o += 3) {
      const i = p * 3;
      out[o] = rgb[i]! * m0 + a0;
      out[o + 1] = rgb[i + 1]! * m1 + a1;
      out[o + 2] = rgb[i + 2]! * m2 + a2;
    }
  }

  return async function preprocessInto(image: Uint8Array, out: Float32Array, offset: number): Promise<void> {
    sharp.concurrency(concurrency); // libvips-global: set per task so variants do not leak into each other
    const resize = { fit: 'fill' as const, fastShrinkOnLoad: variant !== 'no-shrink-on-load', ...(variant === 'kernel-linear' ? { kernel: 'linear' as const } : {}) };
    if (variant === 'bare-resize') {
      const data = await sharp(image).resize(input.width, input.height, resize).removeAlpha().raw().toBuffer();
      writeSlot(data, out, offset);
      return;
    }
    const base = sharp(image, { failOn: 'error', pages: 1 }).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb')
      .resize(input.width, input.height, resize);
    const data = await base.raw({ depth: 'uchar' }).toBuffer();
    writeSlot(data, out, offset);
  };
}
