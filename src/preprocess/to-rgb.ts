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
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += channels, o += 3) {
    if (channels === 1) {
      out[o] = out[o + 1] = out[o + 2] = data[i]!;
      continue;
    }
    const a = data[i + channels - 1]! / 255;
    const white = 255 * (1 - a);
    if (channels === 2) {
      out[o] = out[o + 1] = out[o + 2] = Math.round(data[i]! * a + white);
    } else {
      out[o] = Math.round(data[i]! * a + white);
      out[o + 1] = Math.round(data[i + 1]! * a + white);
      out[o + 2] = Math.round(data[i + 2]! * a + white);
    }
  }
  return out;
}
