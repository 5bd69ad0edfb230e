/**
 * One image, encoded bytes → model-ready float32 pixels in a batch slot, following the model's declared
 * preprocessing (metadata `preprocessing`): header checks first (pixel limit, JPEG scan limit), then the decoder
 * of decode.ts and our own resize (bilinear / area) straight into the slot; or, for models that declare no resize
 * rule (lanczos3), the sharp pipeline they were served with before.
 */
import sharp from 'sharp';
import type { ModelMetadata } from '../model/metadata.ts';
import { decodeRgb, type DecodedRgb } from './decode.ts';
import { inspectImage } from './image-header.ts';
import { coverWindow, orientedView } from './orientation.ts';
import { PreprocessError } from './preprocess-error.ts';
import type { PreprocessSettings } from './settings.ts';

export { preprocessSettings, type PreprocessSettings } from './settings.ts';
import { resizeArea, resizeBilinear, type SlotFormat } from './resize.ts';

export type ModelInput = Pick<ModelMetadata, 'input' | 'preprocessing'>;

/** Which decoder produced the pixels, for benchmarks and logs. */
export type DecoderUsed = DecodedRgb['decoder'] | 'sharp-lanczos3';

/**
 * Decodes `image` into out[offset…]. `mayWrite` is asked just before the slot is written; when it says no (the
 * decode was abandoned and the slot may belong to another request now) nothing is written and undefined returned.
 */
export type Preprocessor = (
  image: Uint8Array,
  out: Float32Array,
  offset: number,
  mayWrite?: () => boolean,
) => Promise<DecoderUsed | undefined>;

export function slotFormat({ input, preprocessing }: ModelInput): SlotFormat {
  // value = (pixel * scale - mean[c]) / std[c], folded into pixel * mul[c] + add[c]; BGR reads channels reversed.
  const order = preprocessing.channelOrder === 'BGR' ? ([2, 1, 0] as const) : ([0, 1, 2] as const);
  const per = (f: (c: number) => number) => [f(0), f(1), f(2)] as const;
  return {
    width: input.width,
    height: input.height,
    layout: input.layout,
    order,
    mul: per((c) => preprocessing.scale / preprocessing.std[c]!),
    add: per((c) => -preprocessing.mean[c]! / preprocessing.std[c]!),
  };
}

export function createPreprocessor(model: ModelInput, settings: PreprocessSettings): Preprocessor {
  const format = slotFormat(model);
  const rule = model.preprocessing.resize;
  const target = { width: model.input.width, height: model.input.height };

  const timeoutS = settings.decodeTimeoutS ?? 0;
  return async function preprocessInto(image, out, offset, mayWrite = () => true) {
    const header = inspectImage(image, settings);
    if (rule.method === 'lanczos3') {
      const rgb = await legacySharp(image, settings.maxInputPixels, timeoutS, rule.fit, format);
      if (!mayWrite()) return undefined;
      // Already at the input size: a bilinear pass at scale 1 is an exact copy with normalisation and layout.
      resizeBilinear(
        rgb,
        orientedView(format.width, format.height, 1),
        { alignCorners: false, halfPixelCenters: false },
        out,
        offset,
        format,
      );
      return 'sharp-lanczos3';
    }
    const decoded = await decodeRgb(image, header, { ...settings, decodeTimeoutS: timeoutS }, target);
    if (!mayWrite()) return undefined;
    const view = orientedView(decoded.width, decoded.height, decoded.orientation);
    const window = rule.fit === 'cover' ? coverWindow(view, target.width, target.height) : view;
    if (rule.method === 'bilinear') resizeBilinear(decoded.data, window, rule, out, offset, format, decoded.pixelBytes);
    else resizeArea(decoded.data, window, out, offset, format, decoded.pixelBytes);
    return decoded.decoder;
  };
}

/** The pipeline models without a declared resize rule were served with: sharp rotate, flatten, sRGB, lanczos3. */
async function legacySharp(
  image: Uint8Array,
  maxInputPixels: number,
  timeoutS: number,
  fit: 'fill' | 'cover',
  f: SlotFormat,
): Promise<Buffer> {
  try {
    const { data, info } = await sharp(image, { limitInputPixels: maxInputPixels, failOn: 'error', pages: 1 })
      .timeout({ seconds: timeoutS })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(f.width, f.height, { fit, fastShrinkOnLoad: true })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== f.width || info.height !== f.height) {
      throw PreprocessError.invalid(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    return data;
  } catch (err) {
    throw PreprocessError.fromDecoder(err, maxInputPixels);
  }
}
