/**
 * Our resize loops against TF.js's own ops on random images: bilinear (every alignCorners / halfPixelCenters
 * convention, up and down) against tf.image.resizeBilinear, area against tf.avgPool on whole-number ratios, the
 * EXIF orientations against sharp's rotate(), normalisation and NCHW layout against a direct computation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import sharp from 'sharp';
import { resizeArea, resizeBilinear, type SlotFormat } from '../../src/preprocess/resize.ts';
import { coverWindow, orientedView } from '../../src/preprocess/orientation.ts';

await tf.setBackend('cpu');

/** A deterministic pseudo-random generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
}

function randomRgb(w: number, h: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256));
}

const plain = (width: number, height: number, layout: 'NHWC' | 'NCHW' = 'NHWC'): SlotFormat => ({
  width,
  height,
  layout,
  order: [0, 1, 2],
  mul: [1, 1, 1],
  add: [0, 0, 0],
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('bilinear resize equals tf.image.resizeBilinear', () => {
  const sizes: Array<[number, number, number, number]> = [
    [451, 300, 224, 224],
    [640, 427, 224, 224],
    [97, 61, 224, 224],
    [1, 1, 224, 224],
    [4000, 2, 224, 224],
    [5, 300, 7, 3],
    [224, 224, 224, 224],
    [300, 451, 1, 1],
    [33, 17, 16, 40],
  ];
  const conventions = [
    { alignCorners: true, halfPixelCenters: false },
    { alignCorners: false, halfPixelCenters: true },
    { alignCorners: false, halfPixelCenters: false },
  ];
  for (const rule of conventions) {
    it(`alignCorners=${rule.alignCorners} halfPixelCenters=${rule.halfPixelCenters}`, () => {
      sizes.forEach(([w, h, ow, oh], i) => {
        const rgb = randomRgb(w, h, 7 + i);
        const ours = new Float32Array(ow * oh * 3);
        resizeBilinear(rgb, orientedView(w, h, 1), rule, ours, 0, plain(ow, oh));
        const theirs = tf.tidy(() =>
          tf.image
            .resizeBilinear(
              tf.tensor3d(Float32Array.from(rgb), [h, w, 3]),
              [oh, ow],
              rule.alignCorners,
              rule.halfPixelCenters,
            )
            .dataSync(),
        );
        assert.ok(maxDiff(ours, theirs) < 1e-3, `${w}x${h} → ${ow}x${oh}: max |diff| ${maxDiff(ours, theirs)}`);
      });
    });
  }

  it('writes at the slot offset, normalises per channel, honours BGR and NCHW', () => {
    const [w, h, ow, oh] = [50, 40, 8, 6];
    const rgb = randomRgb(w, h, 3);
    const rule = { alignCorners: true, halfPixelCenters: false };
    const ref = new Float32Array(ow * oh * 3);
    resizeBilinear(rgb, orientedView(w, h, 1), rule, ref, 0, plain(ow, oh));
    const f: SlotFormat = {
      width: ow,
      height: oh,
      layout: 'NCHW',
      order: [2, 1, 0],
      mul: [2, 3, 4],
      add: [-1, -2, -3],
    };
    const offset = 17;
    const out = new Float32Array(offset + ow * oh * 3).fill(NaN);
    resizeBilinear(rgb, orientedView(w, h, 1), rule, out, offset, f);
    for (let p = 0; p < ow * oh; p++) {
      for (let c = 0; c < 3; c++) {
        const expected = ref[p * 3 + f.order[c]!]! * f.mul[c]! + f.add[c]!;
        assert.ok(Math.abs(out[offset + c * ow * oh + p]! - expected) < 1e-3, `pixel ${p} channel ${c}`);
      }
    }
    assert.ok(out.subarray(0, offset).every(Number.isNaN), 'nothing written before the slot');
  });
});

describe('area resize', () => {
  it('equals tf.avgPool where the ratio is a whole number', () => {
    for (const [w, h, k] of [
      [64, 48, 2],
      [90, 60, 3],
      [224, 224, 1],
      [40, 40, 8],
    ] as const) {
      const rgb = randomRgb(w, h, w + k);
      const ours = new Float32Array((w / k) * (h / k) * 3);
      resizeArea(rgb, orientedView(w, h, 1), ours, 0, plain(w / k, h / k));
      const theirs = tf.tidy(() =>
        tf.avgPool(tf.tensor3d(Float32Array.from(rgb), [h, w, 3]), k, k, 'valid').dataSync(),
      );
      assert.ok(maxDiff(ours, theirs) < 1e-3, `${w}x${h} / ${k}`);
    }
  });

  it('keeps a flat colour flat at any ratio (weights sum to 1)', () => {
    const rgb = new Uint8Array(97 * 61 * 3).fill(200);
    const out = new Float32Array(224 * 224 * 3);
    resizeArea(rgb, orientedView(97, 61, 1), out, 0, plain(224, 224));
    assert.ok(out.every((v) => Math.abs(v - 200) < 1e-3));
    const down = new Float32Array(7 * 5 * 3);
    resizeArea(rgb, orientedView(97, 61, 1), down, 0, plain(7, 5));
    assert.ok(down.every((v) => Math.abs(v - 200) < 1e-3));
  });
});

describe('orientation and crop views', () => {
  it('read each EXIF orientation as sharp.rotate() turns it', async () => {
    const [w, h] = [7, 5];
    const rgb = randomRgb(w, h, 11);
    for (let o = 1; o <= 8; o++) {
      const tagged = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .withMetadata({ orientation: o })
        .toBuffer();
      const turned = await sharp(tagged).rotate().raw().toBuffer({ resolveWithObject: true });
      const view = orientedView(w, h, o);
      assert.deepEqual([view.width, view.height], [turned.info.width, turned.info.height], `orientation ${o} size`);
      const ours = new Float32Array(view.width * view.height * 3);
      resizeBilinear(
        rgb,
        view,
        { alignCorners: false, halfPixelCenters: false },
        ours,
        0,
        plain(view.width, view.height),
      );
      assert.deepEqual(Array.from(ours), Array.from(turned.data), `orientation ${o} pixels`);
    }
  });

  it('cover takes the largest centred window of the target aspect', () => {
    const v = coverWindow(orientedView(400, 300, 1), 224, 224);
    assert.deepEqual([v.width, v.height, v.origin], [300, 300, 50]);
    const tall = coverWindow(orientedView(100, 500, 1), 200, 100);
    assert.deepEqual([tall.width, tall.height, tall.origin], [100, 50, 225 * 100]);
  });
});
