/**
 * The decoders behind the preprocessing, against sharp (libvips, the pipeline they replace): the same upright
 * pixels for every EXIF orientation (JPEG: rotated by libvips; PNG: by our index arithmetic), grey, palette,
 * 16-bit and alpha PNGs from the Rust decoder, and the formats routed to sharp.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { dctFactor, decodeRgb } from '../../src/preprocess/decode.ts';
import { inspectImage } from '../../src/preprocess/image-header.ts';
import { orientedView } from '../../src/preprocess/orientation.ts';
import { baseImage } from '../helpers/corpus.ts';

const LIMITS = { maxInputPixels: 40_000_000, maxJpegScans: 100 };
const SETTINGS = { maxInputPixels: 40_000_000, jpegDctScaling: false, decodeTimeoutS: 0 };

/** The decoded picture as displayed, packed RGB. */
async function displayed(bytes: Buffer): Promise<{ rgb: Uint8Array; width: number; height: number; decoder: string }> {
  const header = inspectImage(bytes, LIMITS);
  const d = await decodeRgb(bytes, header, SETTINGS, { width: 224, height: 224 });
  const v = orientedView(d.width, d.height, d.orientation);
  const rgb = new Uint8Array(v.width * v.height * 3);
  for (let y = 0; y < v.height; y++) {
    for (let x = 0; x < v.width; x++) {
      const i = (v.origin + x * v.xStride + y * v.yStride) * d.pixelBytes;
      rgb.set(d.data.subarray(i, i + 3), (y * v.width + x) * 3);
    }
  }
  return { rgb, width: v.width, height: v.height, decoder: d.decoder };
}

async function sharpUpright(bytes: Buffer) {
  const { data, info } = await sharp(bytes)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { rgb: data, width: info.width, height: info.height };
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('decoders', () => {
  it('JPEG: every EXIF orientation comes out upright, bit-exact with libjpeg-turbo', async () => {
    const base = await baseImage();
    for (let o = 1; o <= 8; o++) {
      for (const chroma of ['4:2:0', '4:4:4']) {
        const jpeg = await base
          .clone()
          .jpeg({ quality: 90, chromaSubsampling: chroma })
          .withMetadata({ orientation: o })
          .toBuffer();
        const [ours, ref] = await Promise.all([displayed(jpeg), sharpUpright(jpeg)]);
        assert.equal(ours.decoder, 'sharp');
        assert.deepEqual([ours.width, ours.height], [ref.width, ref.height], `orientation ${o}`);
        assert.equal(maxDiff(ours.rgb, ref.rgb), 0, `orientation ${o} ${chroma}`);
      }
    }
  });

  it("PNG: grey, grey + alpha, palette, RGBA, 16-bit and EXIF-oriented equal sharp's flatten-over-white", async () => {
    const base = await baseImage();
    const cases: Array<[string, Buffer, number]> = [
      ['rgb', await base.clone().png().toBuffer(), 0],
      ['grey', await base.clone().toColourspace('b-w').png().toBuffer(), 0],
      ['palette', await base.clone().png({ palette: true, colours: 16 }).toBuffer(), 0],
      ['16-bit', await base.clone().toColourspace('rgb16').png().toBuffer(), 1],
      ['rgba', await base.clone().ensureAlpha(0.3).png().toBuffer(), 1],
      ['grey + alpha', await base.clone().toColourspace('b-w').ensureAlpha(0.5).png().toBuffer(), 1],
      ['orientation 8', await base.clone().png().withMetadata({ orientation: 8 }).toBuffer(), 0],
    ];
    for (const [name, png, tolerance] of cases) {
      const [ours, ref] = await Promise.all([displayed(png), sharpUpright(png)]);
      assert.equal(ours.decoder, 'png', name);
      assert.deepEqual([ours.width, ours.height], [ref.width, ref.height], name);
      assert.ok(maxDiff(ours.rgb, ref.rgb) <= tolerance, `${name}: max |diff| ${maxDiff(ours.rgb, ref.rgb)}`);
    }
  });

  it('CMYK JPEG, WebP, GIF, TIFF and AVIF go to sharp, upright and flattened', async () => {
    const base = await baseImage();
    const others: Array<[string, Buffer]> = [
      ['cmyk', await base.clone().toColourspace('cmyk').jpeg().toBuffer()],
      ['webp', await base.clone().webp().withMetadata({ orientation: 3 }).toBuffer()],
      ['gif', await base.clone().gif().toBuffer()],
      ['tiff', await base.clone().tiff().toBuffer()],
      ['avif', await base.clone().avif({ effort: 0 }).toBuffer()],
    ];
    for (const [name, bytes] of others) {
      const [ours, ref] = await Promise.all([displayed(bytes), sharpUpright(bytes)]);
      assert.equal(ours.decoder, 'sharp', name);
      assert.equal(maxDiff(ours.rgb, ref.rgb), 0, name);
    }
  });

  it('a JPEG tagged with a non-sRGB profile goes to sharp, which converts it', async () => {
    const rocket = await import('node:fs/promises').then((fs) =>
      fs.readFile(new URL('../../examples/rocket.jpg', import.meta.url)),
    );
    const ours = await displayed(rocket); // Adobe RGB (1998)
    assert.equal(ours.decoder, 'sharp');
    assert.equal(maxDiff(ours.rgb, (await sharpUpright(rocket)).rgb), 0);
  });

  it('JPEG_DCT_SCALING: decodes at the largest 1/k that still covers the input, orientation applied after', async () => {
    assert.equal(dctFactor({ width: 2000, height: 1500, orientation: 1 }, { width: 224, height: 224 }), 4);
    assert.equal(dctFactor({ width: 1500, height: 2000, orientation: 6 }, { width: 224, height: 300 }), 4);
    assert.equal(dctFactor({ width: 400, height: 400, orientation: 1 }, { width: 224, height: 224 }), 1);
    const big = await (await baseImage())
      .resize(2000, 1500, { fit: 'fill' })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const header = inspectImage(big, LIMITS);
    const d = await decodeRgb(big, header, { ...SETTINGS, jpegDctScaling: true }, { width: 224, height: 224 });
    assert.deepEqual([d.decoder, d.width, d.height, d.orientation], ['sharp-dct', 500, 375, 6]);
    // Turned by our view, it is libvips' own 1/4 shrink of the upright picture (up to rounding in the shrink).
    const v = orientedView(d.width, d.height, d.orientation);
    const ref = await sharp(big).rotate().resize(375, 500, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer();
    let sum = 0;
    for (let y = 0; y < v.height; y++) {
      for (let x = 0; x < v.width; x++) {
        const i = (v.origin + x * v.xStride + y * v.yStride) * 3;
        for (let c = 0; c < 3; c++) sum += Math.abs(d.data[i + c]! - ref[(y * v.width + x) * 3 + c]!);
      }
    }
    assert.ok(sum / (v.width * v.height * 3) < 3, `mean |diff| ${sum / (v.width * v.height * 3)}`);
  });
});
