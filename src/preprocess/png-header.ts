/** Reads a PNG's IHDR and the chunks before its image data (eXIf orientation, APNG's acTL) without inflating anything. */
import { inflateSync } from 'node:zlib';
import { exifOrientation } from './exif-orientation.ts';

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: number;
  interlaced: boolean;
  /** An APNG: only its default image is decoded. */
  animated: boolean;
  orientation: number;
  /** The embedded ICC profile (iCCP, inflated), if any. */
  icc?: Uint8Array;
}

const MAX_ICC_BYTES = 4 * 1024 * 1024;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const VALID_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

export function readPngHeader(bytes: Uint8Array): PngHeader | string {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) return 'not a PNG';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8) !== 13 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return 'no IHDR';
  const h: PngHeader = {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: bytes[24]!,
    colorType: bytes[25]!,
    interlaced: bytes[28] === 1,
    animated: false,
    orientation: 1,
  };
  if (h.width === 0 || h.height === 0 || h.width > 0x7fffffff || h.height > 0x7fffffff) return 'bad IHDR size';
  if (!VALID_DEPTHS[h.colorType]?.includes(h.bitDepth)) return 'bad IHDR colour type or bit depth';
  // Ancillary chunks that matter come before IDAT; stop there.
  for (let p = 33; p + 8 <= bytes.length; ) {
    const length = view.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (type === 'IDAT' || type === 'IEND') break;
    if (p + 12 + length > bytes.length) break;
    if (type === 'acTL') h.animated = true;
    if (type === 'eXIf') h.orientation = exifOrientation(bytes.subarray(p + 8, p + 8 + length));
    if (type === 'iCCP') h.icc = iccpProfile(bytes.subarray(p + 8, p + 8 + length));
    p += 12 + length;
  }
  return h;
}

/** iCCP: a name, a zero byte, the compression method (0) and the zlib-compressed profile. */
function iccpProfile(data: Uint8Array): Uint8Array | undefined {
  const nul = data.indexOf(0);
  if (nul < 1 || nul + 2 > data.length) return undefined;
  try {
    return inflateSync(data.subarray(nul + 2), { maxOutputLength: MAX_ICC_BYTES });
  } catch {
    return undefined; // a damaged profile is ignored, as decoders do
  }
}
