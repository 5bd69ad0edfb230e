/**
 * Converts a decoder's pixels (grey, grey + alpha, RGB, RGBA; 8 or 16 bits, or float) into packed 8-bit RGB, with
 * transparent pixels composed over white, the way the sharp pipeline flattens them. 8-bit RGB is returned as is.
 */
export type PixelFormat = { channels: 1 | 2 | 3 | 4; sample: 'u8' | 'u16' | 'f32' };

export function toRgb8(data: Uint8Array, pixels: number, format: PixelFormat): Uint8Array {
  const { channels, sample } = format;
  const bytesPerSample = sample === 'u8' ? 1 : sample === 'u16' ? 2 : 4;
  if (data.length < pixels * channels * bytesPerSample)
    throw new Error(`decoder returned ${data.length} bytes for ${pixels} pixels`);
  if (sample === 'u8') return channels === 3 ? data : u8ToRgb(data, pixels, channels);
  // Samples as 0…255 floats; the decoders return native-endian (little-endian here) 16-bit and float samples.
  let read: (i: number) => number;
  if (sample === 'u16') {
    const u16 = new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + pixels * channels * 2));
    read = (i) => u16[i]! >> 8; // as libvips casts 16 to 8 bits
  } else {
    const f32 = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + pixels * channels * 4));
    read = (i) => Math.min(255, Math.max(0, f32[i]! * 255));
  }
  const out = new Uint8Array(pixels * 3);
  const alpha = channels === 2 || channels === 4;
  const colour = channels >= 3;
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += channels, o += 3) {
    let r = read(i);
    let g = colour ? read(i + 1) : r;
    let b = colour ? read(i + 2) : r;
    if (alpha) {
      const a = read(i + channels - 1) / 255; // over white: c·a + 255·(1 − a)
      const white = 255 * (1 - a);
      r = r * a + white;
      g = g * a + white;
      b = b * a + white;
    }
    out[o] = Math.round(r);
    out[o + 1] = Math.round(g);
    out[o + 2] = Math.round(b);
  }
  return out;
}

/** The 8-bit cases (grey, grey + alpha, RGBA: palette PNGs land here) without a per-sample closure. */
function u8ToRgb(data: Uint8Array, pixels: number, channels: 1 | 2 | 4): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  rgbRow(data, 0, pixels, channels, out, 0, 1);
  return out;
}

/**
 * Converts `w` 8-bit pixels of `channels` bytes from `data[from]` into RGB over white at `out`, starting at pixel
 * `at` and writing every `step` pixels (an Adam7 pass writes every 2nd to 8th pixel of a row).
 */
export function rgbRow(
  data: Uint8Array,
  from: number,
  w: number,
  channels: 1 | 2 | 3 | 4,
  out: Uint8Array,
  at: number,
  step: number,
): void {
  const stride = 3 * step;
  let o = 3 * at;
  const end = from + w * channels;
  // One loop per layout: a switch on `channels` in the loop cost 1.3× as much on RGBA.
  if (channels === 4) {
    const over = overWhite();
    for (let i = from; i < end; i += 4, o += stride) {
      const alpha = data[i + 3]! << 8;
      out[o] = over[alpha | data[i]!]!;
      out[o + 1] = over[alpha | data[i + 1]!]!;
      out[o + 2] = over[alpha | data[i + 2]!]!;
    }
  } else if (channels === 3) {
    for (let i = from; i < end; i += 3, o += stride) {
      out[o] = data[i]!;
      out[o + 1] = data[i + 1]!;
      out[o + 2] = data[i + 2]!;
    }
  } else if (channels === 2) {
    const over = overWhite();
    for (let i = from; i < end; i += 2, o += stride)
      out[o] = out[o + 1] = out[o + 2] = over[(data[i + 1]! << 8) | data[i]!]!;
  } else {
    for (let i = from; i < end; i++, o += stride) out[o] = out[o + 1] = out[o + 2] = data[i]!;
  }
}

let overWhiteTable: Uint8Array | undefined;

/** Every 8-bit sample c at alpha a composed over white, at [a << 8 | c]: a table read instead of float arithmetic. */
function overWhite(): Uint8Array {
  if (overWhiteTable) return overWhiteTable;
  overWhiteTable = new Uint8Array(256 * 256);
  for (let alpha = 0; alpha < 256; alpha++) {
    const a = alpha / 255; // c·a + 255·(1 − a), rounded, as libvips' flatten over white
    const white = 255 * (1 - a);
    for (let c = 0; c < 256; c++) overWhiteTable[(alpha << 8) | c] = Math.round(c * a + white);
  }
  return overWhiteTable;
}
