/**
 * The default model (nsfwjs MobileNetV2, uint8-quantised weights) exported, converted to ONNX, and run through
 * TfjsEngine and OnnxEngine on the example photos; plus loadEngine's choice and fallback rules.
 *
 *   node --import tsx --test test/integration/onnx-engine.test.ts
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { exportDefaultModel } from '../../scripts/export-default-model.ts';
import { convertTfjsModelDir } from '../../tools/onnx-convert/convert.ts';
import { readMetadata, imageElements } from '../../src/model/metadata.ts';
import type { ModelMetadata } from '../../src/model/metadata.ts';
import type { InferenceEngine } from '../../src/model/engine.ts';
import { OnnxEngine } from '../../src/model/onnx-engine.ts';
import { TfjsEngine } from '../../src/model/tfjs-engine.ts';
import { loadEngine } from '../../src/model/load-engine.ts';

const EXAMPLES = ['chelsea.png', 'coffee.png', 'rocket.jpg'];
const EXAMPLES_DIR = fileURLToPath(new URL('../../examples/', import.meta.url));
/** Both engines compute the same float32 network; only summation order and BN folding differ. */
const PROBABILITY_TOLERANCE = 1e-5;

let root: string;
let modelDir: string;
let meta: ModelMetadata;
/** Room for 4 images, 3 filled: engines must only read the first n. */
let batch: Float32Array;

async function preprocess(file: string, m: ModelMetadata): Promise<Float32Array> {
  const { height, width } = m.input;
  const raw = await sharp(join(EXAMPLES_DIR, file))
    .removeAlpha()
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return Float32Array.from(raw, (v) => v / 255);
}

function top1(scores: Float32Array, row: number, labels: string[]): string {
  const r = scores.subarray(row * labels.length, (row + 1) * labels.length);
  return labels[r.indexOf(Math.max(...r))]!;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i]!)), 0);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'onnx-engine-'));
  modelDir = join(root, 'default');
  await exportDefaultModel(modelDir);
  await convertTfjsModelDir(modelDir);
  meta = await readMetadata(modelDir);
  const elements = imageElements(meta);
  batch = new Float32Array(4 * elements);
  for (const [i, file] of EXAMPLES.entries()) batch.set(await preprocess(file, meta), i * elements);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('default model: OnnxEngine vs TfjsEngine', () => {
  let tfjs: InferenceEngine;
  let onnx: InferenceEngine;
  before(async () => {
    tfjs = await TfjsEngine.load({ modelDir, meta, intraOpThreads: 1 });
    onnx = await OnnxEngine.load({ modelDir, meta, intraOpThreads: 1 });
  });
  after(async () => {
    await tfjs.dispose();
    await onnx.dispose();
  });

  test('metadata records the converted model with an NHWC input', () => {
    assert.deepEqual(meta.onnx, { file: 'model.onnx', inputName: 'input_1', outputName: 'dense_3' });
    assert.equal(meta.input.layout, 'NHWC');
    assert.deepEqual(onnx.info, { engine: 'onnx', backend: 'cpu', format: 'onnx' });
    assert.equal(onnx.liveTensors(), 0);
  });

  test('three example photos batched: probabilities agree and top-1 labels match', async (t) => {
    const expected = await tfjs.run(batch, 3);
    const actual = await onnx.run(batch, 3);
    assert.equal(actual.length, 3 * meta.labels.length);
    const diff = maxAbsDiff(expected, actual);
    assert.ok(diff <= PROBABILITY_TOLERANCE, `probabilities differ by ${diff}`);
    t.diagnostic(`max |tfjs - onnx| probability difference: ${diff.toExponential(2)}`);
    for (let row = 0; row < 3; row++)
      assert.equal(top1(actual, row, meta.labels), top1(expected, row, meta.labels), EXAMPLES[row]);
    assert.equal(top1(actual, 0, meta.labels), 'Neutral');
    assert.equal(top1(actual, 1, meta.labels), 'Neutral');
  });

  test('dynamic batch: one image alone, and a batch view at a non-zero byte offset, give the same rows', async () => {
    const all = await onnx.run(batch, 3);
    const classes = meta.labels.length;
    const elements = imageElements(meta);
    const single = await onnx.run(batch.subarray(elements), 1); // the coffee photo, via an offset view
    assert.ok(maxAbsDiff(single, all.subarray(classes, 2 * classes)) <= 1e-6);
  });
});

describe('loadEngine', () => {
  const base = () => ({ modelDir, intraOpThreads: 1 });

  test('auto picks ONNX Runtime when the model has an ONNX file', async () => {
    const { engine, fallbackReason } = await loadEngine({ ...base(), meta, engine: 'auto' });
    assert.equal(engine.info.engine, 'onnx');
    assert.equal(fallbackReason, undefined);
    await engine.dispose();
  });

  test('auto falls back to TF.js with a reason: no onnx entry, missing file, unreadable file', async () => {
    await writeFile(join(modelDir, 'corrupt.onnx'), 'not a protobuf');
    const cases: Array<[ModelMetadata, RegExp]> = [
      [{ ...meta, onnx: undefined }, /no "onnx" entry/],
      [{ ...meta, onnx: { file: 'absent.onnx' } }, /absent\.onnx does not exist/],
      [{ ...meta, onnx: { file: 'corrupt.onnx' } }, /ONNX Runtime cannot load .*corrupt\.onnx/],
    ];
    for (const [m, reason] of cases) {
      const { engine, fallbackReason } = await loadEngine({ ...base(), meta: m, engine: 'auto' });
      assert.equal(engine.info.engine, 'tfjs');
      assert.match(fallbackReason ?? '', reason);
      await engine.dispose();
    }
  });

  test('forced engines: onnx impossible throws, tfjs is honoured, tfjs without a tfjs entry throws', async () => {
    await assert.rejects(
      loadEngine({ ...base(), meta: { ...meta, onnx: { file: 'absent.onnx' } }, engine: 'onnx' }),
      /engine "onnx" was requested but is not possible: .*absent\.onnx/,
    );
    const forced = await loadEngine({ ...base(), meta, engine: 'tfjs' });
    assert.equal(forced.engine.info.engine, 'tfjs');
    assert.equal(forced.fallbackReason, undefined);
    await forced.engine.dispose();
    await assert.rejects(
      loadEngine({ ...base(), meta: { ...meta, tfjs: undefined }, engine: 'tfjs' }),
      /no TF\.js model/,
    );
    await assert.rejects(
      loadEngine({ ...base(), meta: { ...meta, tfjs: undefined, onnx: undefined }, engine: 'auto' }),
      /no engine can run/,
    );
  });
});
