/**
 * A linear walk over a JPEG's markers that reads what the decoder would commit to (frame size, components,
 * progressive or not, EXIF orientation) and counts the scans, before any pixel is decoded. Each progressive scan
 * makes a decoder visit every block of its component, so the scan count bounds the decode work.
 */
import { exifOrientation } from './exif-orientation.ts';

export interface JpegHeader {
  width: number;
  height: number;
  /** 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK. */
  components: number;
  progressive: boolean;
  /** Start-of-scan markers seen, up to the limit the walk was given (+1 when the limit was crossed). */
  scans: number;
  /** EXIF orientation 1…8 (1 when absent). */
  orientation: number;
  /** The end-of-image marker was reached (false: the file is truncated). */
  complete: boolean;
  /** The embedded ICC profile (APP2 chunks joined), if any. */
  icc?: Uint8Array;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP1 = 0xe1;
const APP2 = 0xe2;

/** Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: TEM, RST0–7, SOI, EOI. */
const standalone = (m: number) => m === 0x01 || (m >= 0xd0 && m <= 0xd9);

/** Returns the header, or a string saying why the bytes are not a decodable JPEG. Stops counting past maxScans. */
export function readJpegHeader(bytes: Uint8Array, maxScans: number): JpegHeader | string {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return 'not a JPEG';
  const h: JpegHeader = {
    width: 0,
    height: 0,
    components: 0,
    progressive: false,
    scans: 0,
    orientation: 1,
    complete: false,
  };
  let sawFrame = false;
  const iccChunks: Uint8Array[] = [];
  let p = 2;
  while (p < bytes.length) {
    if (bytes[p] !== 0xff) return `expected a marker at byte ${p}`;
    while (p < bytes.length && bytes[p] === 0xff) p++; // fill bytes
    if (p >= bytes.length) break;
    const marker = bytes[p++]!;
    if (marker === EOI) {
      h.complete = true;
      break;
    }
    if (standalone(marker)) continue;
    if (p + 2 > bytes.length) break;
    const length = (bytes[p]! << 8) | bytes[p + 1]!;
    if (length < 2) return `bad segment length at byte ${p}`;
    const body = p + 2;
    const end = p + length;
    if (end > bytes.length) break;
    if (isSof(marker)) {
      if (sawFrame) return 'two frames';
      if (length < 8) return 'short frame header';
      sawFrame = true;
      h.height = (bytes[body + 1]! << 8) | bytes[body + 2]!;
      h.width = (bytes[body + 3]! << 8) | bytes[body + 4]!;
      h.components = bytes[body + 5]!;
      h.progressive = marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
    } else if (marker === APP1 && length > 8 && String.fromCharCode(...bytes.subarray(body, body + 4)) === 'Exif') {
      h.orientation = exifOrientation(bytes.subarray(body + 6, end));
    } else if (
      marker === APP2 &&
      length > 16 &&
      String.fromCharCode(...bytes.subarray(body, body + 11)) === 'ICC_PROFILE'
    ) {
      iccChunks.push(bytes.subarray(body + 14, end)); // after "ICC_PROFILE\0", sequence number, chunk count
    } else if (marker === SOS) {
      if (!sawFrame) return 'scan before frame';
      h.scans++;
      if (h.scans > maxScans) return h;
      p = skipEntropyCodedData(bytes, end);
      continue;
    }
    p = end;
  }
  if (!sawFrame) return 'no frame header';
  if (h.width === 0 || h.height === 0) return 'zero-sized frame'; // DNL-defined heights are not supported
  if (h.scans === 0) return 'no scan';
  if (iccChunks.length > 0) h.icc = Buffer.concat(iccChunks);
  return h;
}

/** From the start of a scan's data, the offset of the next marker that is not a stuffed 0xFF00 or a restart. */
function skipEntropyCodedData(bytes: Uint8Array, from: number): number {
  let p = from;
  for (;;) {
    const ff = bytes.indexOf(0xff, p);
    if (ff < 0 || ff + 1 >= bytes.length) return bytes.length;
    const next = bytes[ff + 1]!;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
      p = next === 0xff ? ff + 1 : ff + 2;
      continue;
    }
    return ff;
  }
}
