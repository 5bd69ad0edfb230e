/**
 * piscina task: decode one encoded image with sharp and write the model-ready float32 pixels straight into its
 * slot of a shared batch buffer. Returns only a small status; a bad image fails its own request, nothing else.
 */
import { workerData } from 'node:worker_threads';
import sharp from 'sharp';
import type { PreprocessOutcome, PreprocessTask, PreprocessWorkerData } from './messages.ts';
import { SlotClaims } from './slot-claims.ts';

// One libvips thread per pool worker: the pool itself is the parallelism, and the cache only costs memory here.
sharp.concurrency(1);
sharp.cache(false);

const { buffers, input, preprocessing, maxInputPixels, slotsPerBuffer, slotClaims, slotStarts, decodeTimeoutMs } =
  workerData as PreprocessWorkerData;
const claims = new SlotClaims(slotsPerBuffer, { claims: slotClaims, starts: slotStarts });
// libvips checks its timeout only now and then, in whole seconds: it ends the native work of a decode the pool
// has already abandoned (ending this thread cannot stop native code), so that CPU is not burnt for nothing.
const decodeTimeoutS = Math.ceil(decodeTimeoutMs / 1000);
const views = buffers.map((b) => new Float32Array(b));
const planeSize = input.height * input.width;
const slotSize = planeSize * input.channels;

// value = (pixel * scale - mean[c]) / std[c], folded into pixel * mul[c] + add[c]; BGR models read channels reversed.
const order = preprocessing.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
const mul = order.map((_, c) => preprocessing.scale / preprocessing.std[c]!);
const add = order.map((_, c) => -preprocessing.mean[c]! / preprocessing.std[c]!);

function writeSlot(rgb: Buffer, out: Float32Array, offset: number): void {
  const [r, g, b] = order as [number, number, number];
  const [m0, m1, m2] = mul as [number, number, number];
  const [a0, a1, a2] = add as [number, number, number];
  if (input.layout === 'NHWC') {
    for (let p = 0, o = offset; p < planeSize; p++, o += 3) {
      const i = p * 3;
      out[o] = rgb[i + r]! * m0 + a0;
      out[o + 1] = rgb[i + g]! * m1 + a1;
      out[o + 2] = rgb[i + b]! * m2 + a2;
    }
  } else {
    for (let p = 0; p < planeSize; p++) {
      const i = p * 3;
      out[offset + p] = rgb[i + r]! * m0 + a0;
      out[offset + planeSize + p] = rgb[i + g]! * m1 + a1;
      out[offset + 2 * planeSize + p] = rgb[i + b]! * m2 + a2;
    }
  }
}

/** The pool gave up on this task (its deadline or decode bound passed); nobody reads this answer. */
const abandoned: PreprocessOutcome = { ok: false, code: 'DEADLINE_EXCEEDED', message: 'abandoned', detail: 'abandoned' };

export default async function preprocess(task: PreprocessTask): Promise<PreprocessOutcome> {
  const started = performance.now();
  if (!claims.markStarted(task.buffer, task.slot, task.token)) return abandoned;
  try {
    const { data, info } = await sharp(task.image, { limitInputPixels: maxInputPixels, failOn: 'error', pages: 1 })
      .timeout({ seconds: decodeTimeoutS })
      .rotate() // apply EXIF orientation
      .flatten({ background: '#ffffff' }) // transparent pixels over white, alpha dropped
      .toColourspace('srgb') // CMYK, grayscale, palette, 16-bit → 8-bit sRGB
      .resize(input.width, input.height, { fit: 'fill', fastShrinkOnLoad: true })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== input.width || info.height !== input.height) {
      return { ok: false, code: 'INVALID_IMAGE', message: 'The image could not be converted to RGB.', detail: `decoded to ${info.width}x${info.height}x${info.channels}` };
    }
    if (!claims.claimForWrite(task.buffer, task.slot, task.token)) return abandoned;
    writeSlot(data, views[task.buffer]!, task.slot * slotSize);
    return { ok: true, ms: performance.now() - started };
  } catch (err) {
    const detail = (err as Error).message;
    if (/pixel limit/i.test(detail)) {
      return { ok: false, code: 'IMAGE_TOO_LARGE', message: `The image has more than ${maxInputPixels} pixels.`, detail };
    }
    if (/^timeout:/.test(detail)) {
      return { ok: false, code: 'IMAGE_TOO_COMPLEX', message: 'The image takes too long to decode.', detail };
    }
    if (/unsupported image format/i.test(detail)) {
      return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Not a supported image type.', detail };
    }
    return { ok: false, code: 'INVALID_IMAGE', message: 'The image could not be decoded (corrupt or truncated).', detail };
  }
}
