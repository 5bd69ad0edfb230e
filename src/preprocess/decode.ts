/**
 * Decoding to packed 8-bit RGB, by the cheapest decoder that handles the image faithfully:
 *   - JPEG: libjpeg-turbo through sharp, decoded once to RGB without resizing: its default IDCT and fancy
 *     upsampling give the pixels of browsers, TF's decode_jpeg and nsfwjs's reference bit for bit (zune-jpeg in
 *     @napi-rs/image is faster but upsamples chroma differently; Skia's libjpeg-turbo leaks memory: BENCHMARKS.md);
 *   - PNG: png-decode.ts on Node's zlib (lossless, so every decoder agrees), straight to RGB over white: about the
 *     CPU of @napi-rs/image's Rust decoder on RGB photos, whose Transformer kept each image's pixels out of V8's
 *     sight until a collection (issue 20);
 *   - a PNG's EXIF orientation is applied later, as index arithmetic in the resize;
 *   - large JPEGs when DCT scaling is on: sharp's shrink-on-load (libjpeg-turbo decodes at 1/2, 1/4 or 1/8) while
 *     the result still covers the model input;
 *   - WebP, GIF, TIFF, AVIF/HEIF, images with a non-sRGB ICC profile, PNGs the Rust decoder refuses: sharp too.
 */
import sharp from 'sharp';
import type { ImageHeader } from './image-header.ts';
import { isSrgbProfile } from './icc.ts';
import { PreprocessError } from './preprocess-error.ts';
import { decodePng } from './png-decode.ts';

export interface DecodeSettings {
  maxInputPixels: number;
  /** Decode large JPEGs at 1/2, 1/4 or 1/8 scale in the DCT domain when the result still covers the input. */
  jpegDctScaling: boolean;
  /** libvips gives up a decode after this many seconds (0: never). */
  decodeTimeoutS: number;
}

export interface DecodedRgb {
  /** Packed RGB, or RGBA with opaque alpha when pixelBytes is 4. */
  data: Uint8Array;
  pixelBytes: 3 | 4;
  width: number;
  height: number;
  /** EXIF orientation still to apply (1 when the decoder already applied it). */
  orientation: number;
  decoder: 'png' | 'sharp' | 'sharp-dct';
}

export async function decodeRgb(
  bytes: Uint8Array,
  header: ImageHeader,
  settings: DecodeSettings,
  target: { width: number; height: number },
): Promise<DecodedRgb> {
  const foreignProfile = header.kind !== 'other' && header.icc !== undefined && !isSrgbProfile(header.icc);
  if (header.kind === 'jpeg' && settings.jpegDctScaling) {
    const k = dctFactor(header, target);
    if (k > 1) return decodeJpegScaled(bytes, header, k, settings);
  } else if (header.kind === 'png' && !foreignProfile) {
    try {
      return decodePngRgb(bytes, header);
    } catch {
      // A PNG our decoder refuses (e.g. a bad CRC in an ancillary chunk) gets libvips' opinion too.
    }
  }
  // libvips: rotated, flattened over white, converted to sRGB from any ICC profile (lcms2), CMYK included.
  return decodeSharp(bytes, settings);
}

function decodePngRgb(bytes: Uint8Array, header: Extract<ImageHeader, { kind: 'png' }>): DecodedRgb {
  const { width, height } = header;
  return {
    data: decodePng(bytes, header.png, 'rgb').data,
    pixelBytes: 3,
    width,
    height,
    orientation: header.orientation,
    decoder: 'png',
  };
}

async function decodeSharp(bytes: Uint8Array, { maxInputPixels, decodeTimeoutS }: DecodeSettings): Promise<DecodedRgb> {
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxInputPixels, failOn: 'error', pages: 1 })
      .timeout({ seconds: decodeTimeoutS })
      .rotate() // EXIF orientation
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb') // CMYK, grey, palette, 16-bit → 8-bit sRGB
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw PreprocessError.invalid(`sharp decoded ${info.channels} channels`);
    return { data, pixelBytes: 3, width: info.width, height: info.height, orientation: 1, decoder: 'sharp' };
  } catch (err) {
    throw PreprocessError.fromDecoder(err, maxInputPixels);
  }
}

/** The largest DCT scale-down (2, 4 or 8) whose result still covers the target in both displayed dimensions. */
export function dctFactor(
  header: { width: number; height: number; orientation: number },
  target: { width: number; height: number },
): number {
  const turned = header.orientation >= 5;
  const needW = turned ? target.height : target.width;
  const needH = turned ? target.width : target.height;
  for (const k of [8, 4, 2]) {
    if (Math.floor(header.width / k) >= needW && Math.floor(header.height / k) >= needH) return k;
  }
  return 1;
}

async function decodeJpegScaled(
  bytes: Uint8Array,
  header: ImageHeader & { width: number; height: number; orientation: number },
  k: number,
  settings: DecodeSettings,
): Promise<DecodedRgb> {
  const width = Math.floor(header.width / k);
  const height = Math.floor(header.height / k);
  try {
    // A target of exactly 1/k makes libvips shrink on load by k; the nearest-neighbour step after it only trims
    // the last row/column when the size is not a multiple of k. No rotate: the resize applies the orientation.
    const { data, info } = await sharp(bytes, { limitInputPixels: settings.maxInputPixels, failOn: 'error' })
      .timeout({ seconds: settings.decodeTimeoutS })
      .resize(width, height, { fit: 'fill', fastShrinkOnLoad: true, kernel: 'nearest' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw PreprocessError.invalid(`sharp decoded ${info.channels} channels`);
    return {
      data,
      pixelBytes: 3,
      width: info.width,
      height: info.height,
      orientation: header.orientation,
      decoder: 'sharp-dct',
    };
  } catch (err) {
    throw PreprocessError.fromDecoder(err, settings.maxInputPixels);
  }
}
