/**
 * Done-when of issue 11: the default model's probabilities from the service equal nsfwjs's own pipeline within
 * 0.01, with the same top-1, on real photos, drawings, line art and palette images. The reference is computed here
 * with TF.js ops following nsfwjs's infer() (node_modules/nsfwjs/dist/cjs/core.js): decoded RGB → / 255 →
 * tf.image.resizeBilinear(224 × 224, alignCorners = true) → the same model on TF.js. The reference decodes with
 * sharp (libjpeg-turbo, libpng), a different decoder from the service's, and flattens alpha over white as the
 * service promises.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { readMetadata, type ModelMetadata } from '../../src/model/metadata.ts';
import { TfjsEngine } from '../../src/model/tfjs-engine.ts';
import { fidelityImages, type NamedImage } from '../../bench/lib/fidelity-images.ts';
import { postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const MODEL_DIR = resolve('models/default');
const TOLERANCE = 0.01;

async function reference(engine: TfjsEngine, meta: ModelMetadata, bytes: Buffer): Promise<number[]> {
  const { data, info } = await sharp(bytes)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const { height, width } = meta.input;
  const input = tf.tidy(() => {
    const img = tf.tensor3d(Float32Array.from(data), [info.height, info.width, 3]);
    const normalized = tf.div(img, tf.scalar(255));
    const resized =
      info.height !== height || info.width !== width
        ? tf.image.resizeBilinear(normalized as tf.Tensor3D, [height, width], true)
        : normalized;
    return resized.dataSync() as Float32Array;
  });
  return Array.from(await engine.run(input, 1));
}

describe('preprocessing fidelity: the service answers what nsfwjs answers', () => {
  let svc: TestService;
  let engine: TfjsEngine;
  let meta: ModelMetadata;
  let images: NamedImage[];
  before(async () => {
    meta = await readMetadata(MODEL_DIR);
    // Each is kept as soon as it exists, so that after() releases it even if another one failed.
    await Promise.all([
      startTestService({ MODEL_DIR }).then((s) => {
        svc = s;
      }),
      TfjsEngine.load({ modelDir: MODEL_DIR, meta, intraOpThreads: 1 }).then((e) => {
        engine = e;
      }),
      fidelityImages().then((i) => {
        images = i;
      }),
    ]);
  });
  after(async () => {
    await svc?.close();
    await engine?.dispose();
  });

  it("declares nsfwjs's resize rule in the default model's metadata", () => {
    assert.deepEqual(meta.preprocessing.resize, {
      method: 'bilinear',
      alignCorners: true,
      halfPixelCenters: false,
      fit: 'fill',
    });
  });

  it(`gives nsfwjs's probabilities within ${TOLERANCE} and its top-1`, async () => {
    const report: string[] = [];
    let worst = 0;
    for (const img of images) {
      const res = await postImage(svc.url, img.bytes, { query: `?topk=${meta.labels.length}` });
      assert.equal(res.status, 200, `${img.name}: ${await res.clone().text()}`);
      const { predictions } = (await res.json()) as { predictions: Array<{ label: string; probability: number }> };
      const served = meta.labels.map((l) => predictions.find((p) => p.label === l)!.probability);
      const ref = await reference(engine, meta, img.bytes);
      const diff = Math.max(...served.map((p, i) => Math.abs(p - ref[i]!)));
      worst = Math.max(worst, diff);
      const top = (xs: number[]) => meta.labels[xs.indexOf(Math.max(...xs))];
      report.push(`${img.name}: max |diff| ${diff.toFixed(4)}, top-1 ${top(served)} / reference ${top(ref)}`);
      assert.ok(
        diff <= TOLERANCE,
        `${img.name}: probabilities differ by ${diff.toFixed(4)} (served ${served.map((p) => p.toFixed(3))}, reference ${ref.map((p) => p.toFixed(3))})`,
      );
      assert.equal(top(served), top(ref), `${img.name}: top-1`);
    }
    console.log(`# ${images.length} images, worst |diff| ${worst.toFixed(4)}\n# ${report.join('\n# ')}`);
  });
});
