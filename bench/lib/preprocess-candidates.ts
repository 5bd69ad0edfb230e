/**
 * Every decoder + resize the preprocessing was chosen from (issue 11), as functions that bring one encoded image
 * to a 224×224 float32 slot (or only decode it), for bench:micro's CPU table. `product` is src/preprocess as the
 * service runs it; the others are the candidates, measured under the same conditions (main thread, one image at
 * a time, CPU time of the whole process so libvips' and Skia's own threads count).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createCanvas, Image } from '@napi-rs/canvas';
import { ResizeFilterType, ResizeFit, Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import type { ModelMetadata } from '../../src/model/metadata.ts';
import { createPreprocessor, slotFormat } from '../../src/preprocess/preprocess-image.ts';
import { orientedView } from '../../src/preprocess/orientation.ts';
import { resizeBilinear } from '../../src/preprocess/resize.ts';
import { toRgb8, type PixelFormat } from '../../src/preprocess/to-rgb.ts';

/** @napi-rs/image's JsColorType, in its numbering. */
const NAPI_COLOR_TYPES: Record<number, PixelFormat> = {
  0: { channels: 1, sample: 'u8' },
  1: { channels: 2, sample: 'u8' },
  2: { channels: 3, sample: 'u8' },
  3: { channels: 4, sample: 'u8' },
  4: { channels: 1, sample: 'u16' },
  5: { channels: 2, sample: 'u16' },
  6: { channels: 3, sample: 'u16' },
  7: { channels: 4, sample: 'u16' },
  8: { channels: 3, sample: 'f32' },
  9: { channels: 4, sample: 'f32' },
};

const require = createRequire(import.meta.url);

export interface Candidate {
  name: string;
  /** What it does, for the table's legend. */
  about: string;
  /** Which encoded formats it reads. */
  formats: Array<'jpeg' | 'png'>;
  /** Faithful to the default model's declared rule (bilinear, alignCorners), upright, sRGB, flattened. */
  faithful: boolean;
  run(bytes: Buffer, out: Float32Array): Promise<unknown> | unknown;
}

export async function preprocessCandidates(
  model: Pick<ModelMetadata, 'input' | 'preprocessing'>,
): Promise<Candidate[]> {
  const f = slotFormat(model);
  const rule = { alignCorners: true, halfPixelCenters: false };
  const settings = { maxInputPixels: 40_000_000, maxJpegScans: 100, jpegDctScaling: false };
  const product = createPreprocessor(model, settings);
  const productDct = createPreprocessor(model, { ...settings, jpegDctScaling: true });
  const legacy = createPreprocessor(
    {
      ...model,
      preprocessing: {
        ...model.preprocessing,
        resize: { method: 'lanczos3', alignCorners: false, halfPixelCenters: false, fit: 'fill' },
      },
    },
    settings,
  );
  const bilinear = (rgb: Uint8Array, w: number, h: number, out: Float32Array, pixelBytes: 3 | 4 = 3) =>
    resizeBilinear(rgb, orientedView(w, h, 1), rule, out, 0, f, pixelBytes);

  // wasm codecs: compiled once from the package files (never fetched).
  const jsquashJpeg = await import('@jsquash/jpeg/decode.js');
  await jsquashJpeg.init(
    await WebAssembly.compile(readFileSync(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'))),
  );
  const jsquashPng = await import('@jsquash/png/decode.js');
  await jsquashPng.init(
    await WebAssembly.compile(readFileSync(require.resolve('@jsquash/png/codec/pkg/squoosh_png_bg.wasm'))),
  );
  const arrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

  return [
    {
      name: 'product',
      about:
        'src/preprocess as served: header checks, Skia (JPEG) / @napi-rs/image (PNG) / sharp (rest), our bilinear into the slot',
      formats: ['jpeg', 'png'],
      faithful: true,
      run: (b, out) => product(b, out, 0),
    },
    {
      name: 'product, JPEG_DCT_SCALING=on',
      about: 'the same, large JPEGs decoded at 1/2–1/8 by libjpeg-turbo (changes pixels)',
      formats: ['jpeg', 'png'],
      faithful: false,
      run: (b, out) => productDct(b, out, 0),
    },
    {
      name: 'sharp pipeline before issue 11',
      about:
        "rotate, flatten, sRGB, lanczos3 fill resize, shrink-on-load (the service until now; not the model's rule)",
      formats: ['jpeg', 'png'],
      faithful: false,
      run: (b, out) => legacy(b, out, 0),
    },
    {
      name: 'sharp linear kernel',
      about: 'sharp resize with kernel linear (libvips bilinear: not align-corners, not faithful)',
      formats: ['jpeg', 'png'],
      faithful: false,
      run: async (b, out) =>
        bilinear(
          await sharp(b)
            .rotate()
            .flatten({ background: '#ffffff' })
            .toColourspace('srgb')
            .resize(f.width, f.height, { fit: 'fill', kernel: 'linear' })
            .raw()
            .toBuffer(),
          f.width,
          f.height,
          out,
        ),
    },
    {
      name: 'sharp decode + our bilinear',
      about: 'sharp decode only (rotate, flatten, sRGB, no resize), then our resize loop',
      formats: ['jpeg', 'png'],
      faithful: true,
      run: async (b, out) => {
        const { data, info } = await sharp(b)
          .rotate()
          .flatten({ background: '#ffffff' })
          .toColourspace('srgb')
          .raw()
          .toBuffer({ resolveWithObject: true });
        bilinear(data, info.width, info.height, out);
      },
    },
    {
      name: 'Skia drawImage to 224²',
      about: "@napi-rs/canvas decode + Skia's own scaled drawImage + getImageData (not the model's rule)",
      formats: ['jpeg', 'png'],
      faithful: false,
      run: (b, out) => {
        const im = new Image();
        im.src = b;
        const ctx = createCanvas(f.width, f.height).getContext('2d');
        ctx.drawImage(im, 0, 0, f.width, f.height);
        bilinear(new Uint8Array(ctx.getImageData(0, 0, f.width, f.height).data.buffer), f.width, f.height, out, 4);
      },
    },
    {
      name: 'Skia decode + our bilinear',
      about: '@napi-rs/canvas (libjpeg-turbo, libpng-equivalent) decode, canvas.data(), our resize',
      formats: ['jpeg', 'png'],
      faithful: true,
      run: (b, out) => {
        const im = new Image();
        im.src = b;
        const canvas = createCanvas(im.width, im.height);
        canvas.getContext('2d').drawImage(im, 0, 0);
        bilinear(canvas.data(), im.width, im.height, out, 4);
      },
    },
    {
      name: '@napi-rs/image decode + our bilinear',
      about: 'Rust image crate (zune-jpeg, png) decode, our resize; JPEG chroma upsampling differs from libjpeg-turbo',
      formats: ['jpeg', 'png'],
      faithful: false,
      run: (b, out) => {
        const t = new Transformer(b);
        const { width, height, colorType } = t.metadataSync();
        bilinear(toRgb8(t.rawPixelsSync(), width * height, NAPI_COLOR_TYPES[colorType]!), width, height, out);
      },
    },
    {
      name: '@napi-rs/image decode + its resize',
      about: "Rust decode + the crate's own bilinear (Triangle) resize to 224²",
      formats: ['jpeg', 'png'],
      faithful: false,
      run: (b, out) => {
        const px = new Transformer(b)
          .resize(f.width, f.height, ResizeFilterType.Triangle, ResizeFit.Fill)
          .rawPixelsSync();
        bilinear(px, f.width, f.height, out, (px.length / (f.width * f.height)) as 3 | 4);
      },
    },
    {
      name: '@jsquash/jpeg (wasm mozjpeg) + our bilinear',
      about: 'wasm libjpeg-turbo fork, RGBA out, our resize',
      formats: ['jpeg'],
      faithful: true,
      run: async (b, out) => {
        const img = await jsquashJpeg.default(arrayBuffer(b));
        bilinear(new Uint8Array(img.data.buffer), img.width, img.height, out, 4);
      },
    },
    {
      name: '@jsquash/png (wasm) + our bilinear',
      about: 'wasm png decode, RGBA out, our resize',
      formats: ['png'],
      faithful: true,
      run: async (b, out) => {
        const img = await jsquashPng.default(arrayBuffer(b));
        bilinear(new Uint8Array(img.data.buffer), img.width, img.height, out, 4);
      },
    },
  ];
}
