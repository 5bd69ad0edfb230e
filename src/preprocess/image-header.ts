/**
 * What the preprocessing knows about an image before decoding it: its kind and size from the header, checked
 * against the pixel limit and (for JPEG) the scan limit, so a bomb or a decode-work attack costs a header read.
 * Formats other than JPEG and PNG are left to sharp, which checks the pixel limit from their headers itself.
 */
import { readJpegHeader, type JpegHeader } from './jpeg-header.ts';
import { readPngHeader, type PngHeader } from './png-header.ts';
import { PreprocessError } from './preprocess-error.ts';

export interface HeaderLimits {
  maxInputPixels: number;
  maxJpegScans: number;
}

export type ImageHeader =
  | { kind: 'jpeg'; width: number; height: number; orientation: number; icc?: Uint8Array; jpeg: JpegHeader }
  | { kind: 'png'; width: number; height: number; orientation: number; icc?: Uint8Array; png: PngHeader }
  | { kind: 'other' };

const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
const isPng = (b: Uint8Array) => b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;

export function inspectImage(bytes: Uint8Array, limits: HeaderLimits): ImageHeader {
  let header: ImageHeader;
  if (isJpeg(bytes)) {
    const jpeg = readJpegHeader(bytes, limits.maxJpegScans);
    if (typeof jpeg === 'string') throw PreprocessError.invalid(`jpeg header: ${jpeg}`);
    if (jpeg.scans > limits.maxJpegScans) {
      throw new PreprocessError(
        'IMAGE_TOO_COMPLEX',
        `The JPEG has more than ${limits.maxJpegScans} scans.`,
        `jpeg scans > ${limits.maxJpegScans}`,
      );
    }
    header = {
      kind: 'jpeg',
      width: jpeg.width,
      height: jpeg.height,
      orientation: jpeg.orientation,
      icc: jpeg.icc,
      jpeg,
    };
  } else if (isPng(bytes)) {
    const png = readPngHeader(bytes);
    if (typeof png === 'string') throw PreprocessError.invalid(`png header: ${png}`);
    header = { kind: 'png', width: png.width, height: png.height, orientation: png.orientation, icc: png.icc, png };
  } else {
    return { kind: 'other' };
  }
  if (header.width * header.height > limits.maxInputPixels) {
    throw new PreprocessError(
      'IMAGE_TOO_LARGE',
      `The image has more than ${limits.maxInputPixels} pixels.`,
      `${header.width}x${header.height}`,
    );
  }
  if (header.kind === 'jpeg' && !header.jpeg.complete)
    throw PreprocessError.invalid('jpeg: no end-of-image marker (truncated)');
  return header;
}
