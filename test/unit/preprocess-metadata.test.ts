/**
 * The declared preprocessing in model metadata: a directory without `resize` keeps the sharp lanczos3 pipeline
 * (same pixels as before the field existed), contradictory rules are refused with the field named, and a
 * declared rule (area, cover, BGR, NCHW) reaches the slot.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { metadataSchema } from '../../src/model/metadata.ts';
import { createPreprocessor } from '../../src/preprocess/preprocess-image.ts';
import { baseImage } from '../helpers/corpus.ts';

const SETTINGS = { maxInputPixels: 40_000_000, maxJpegScans: 100, jpegDctScaling: false };
const base = { name: 'm', labels: ['a', 'b'], input: { height: 32, width: 48 }, onnx: {} };

describe('model metadata: preprocessing.resize', () => {
  it('defaults to the lanczos3 fill pipeline when absent', () => {
    const meta = metadataSchema.parse(base);
    assert.deepEqual(meta.preprocessing.resize, {
      method: 'lanczos3',
      alignCorners: false,
      halfPixelCenters: false,
      fit: 'fill',
    });
    const partial = metadataSchema.parse({ ...base, preprocessing: { scale: 1 } });
    assert.equal(partial.preprocessing.resize.method, 'lanczos3');
  });

  it('refuses contradictory rules, naming the field', () => {
    for (const resize of [
      { method: 'bilinear', alignCorners: true, halfPixelCenters: true },
      { method: 'area', alignCorners: true },
      { method: 'lanczos3', halfPixelCenters: true },
      { method: 'nearest' },
      { method: 'bilinear', fit: 'contain' },
    ]) {
      const r = metadataSchema.safeParse({ ...base, preprocessing: { resize } });
      assert.ok(!r.success, JSON.stringify(resize));
      assert.ok(
        r.error.issues.some((i) => i.path.includes('resize')),
        JSON.stringify(r.error.issues),
      );
    }
  });

  it('without a rule, gives the pixels the sharp pipeline gave before', async () => {
    const meta = metadataSchema.parse(base);
    const png = await (await baseImage()).png().toBuffer();
    const out = new Float32Array(32 * 48 * 3);
    assert.equal(await createPreprocessor(meta, SETTINGS)(png, out, 0), 'sharp-lanczos3');
    const old = await sharp(png)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(48, 32, { fit: 'fill', fastShrinkOnLoad: true })
      .raw()
      .toBuffer();
    assert.deepEqual(
      Array.from(out),
      Array.from(old, (v) => Math.fround(v * (1 / 255))),
    );
  });

  it('applies a declared area + cover rule with BGR, mean/std and NCHW', async () => {
    const meta = metadataSchema.parse({
      ...base,
      input: { height: 32, width: 32, layout: 'NCHW' },
      preprocessing: {
        channelOrder: 'BGR',
        scale: 1,
        mean: [10, 20, 30],
        std: [2, 2, 2],
        resize: { method: 'area', fit: 'cover' },
      },
    });
    // 160×128 → centred 128×128 window → area 4:1 → 32×32; compare with sharp extracting the same window then averaging.
    const img = await baseImage();
    const png = await img.clone().png().toBuffer();
    const out = new Float32Array(32 * 32 * 3);
    assert.equal(await createPreprocessor(meta, SETTINGS)(png, out, 0), 'png');
    const window = await img.clone().extract({ left: 16, top: 0, width: 128, height: 128 }).raw().toBuffer();
    for (const [x, y] of [
      [0, 0],
      [31, 31],
      [5, 17],
    ] as const) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < 4; dy++)
          for (let dx = 0; dx < 4; dx++) sum += window[((y * 4 + dy) * 128 + x * 4 + dx) * 3 + (2 - c)]!;
        const expected = (sum / 16 - [10, 20, 30][c]!) / 2;
        assert.ok(
          Math.abs(out[c * 1024 + y * 32 + x]! - expected) < 1e-3,
          `(${x},${y}) channel ${c}: ${out[c * 1024 + y * 32 + x]} vs ${expected}`,
        );
      }
    }
  });
});
