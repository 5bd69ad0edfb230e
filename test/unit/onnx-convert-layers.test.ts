/**
 * TF.js layers → ONNX converter, layer by layer: small random-weight models built here with tfjs-layers are
 * saved to a temp dir, converted, and run through TfjsEngine and OnnxEngine on the same random batch.
 *
 * Tolerance: raw outputs (no softmax) must agree within 1e-4 absolute. Both runtimes compute in float32 but sum
 * in different orders and BatchNorm is folded into the convs on the ONNX side, so bit-exactness is not expected;
 * observed differences are below 1e-6.
 *
 *   node --import tsx --test test/unit/onnx-convert-layers.test.ts
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import onnxPkg from 'onnx-proto';
import '@tensorflow/tfjs-backend-cpu';
import { convertTfjsModelDir } from '../../tools/onnx-convert/convert.ts';
import { writeLayersModelDir } from '../../src/model/tfjs-model-files.ts';
import { windowGeometry } from '../../tools/onnx-convert/spatial.ts';
import { readWeights } from '../../tools/onnx-convert/weights.ts';
import type { WeightSpec } from '../../tools/onnx-convert/weights.ts';
import { readMetadata } from '../../src/model/metadata.ts';
import type { ModelMetadata } from '../../src/model/metadata.ts';
import { OnnxEngine } from '../../src/model/onnx-engine.ts';
import { seededValues } from '../helpers/seeded-values.ts';
import { TfjsEngine } from '../../src/model/tfjs-engine.ts';

const TOLERANCE = 1e-4;
const BATCH = 3;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'onnx-convert-layers-'));
  await tf.setBackend('cpu');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const uniform = (minval: number, maxval: number, seed: number) =>
  tfl.initializers.randomUniform({ minval, maxval, seed });

/** Non-trivial BatchNorm statistics, so folding and the BatchNormalization op are actually exercised. */
const bnInit = (seed: number) => ({
  gammaInitializer: uniform(0.5, 1.5, seed),
  betaInitializer: uniform(-0.5, 0.5, seed + 1),
  movingMeanInitializer: uniform(-0.5, 0.5, seed + 2),
  movingVarianceInitializer: uniform(0.5, 1.5, seed + 3),
});
const biasInit = (seed: number) => ({ biasInitializer: uniform(-0.3, 0.3, seed) });

/** Saves a layers model the way a TF.js export would look on disk: model.json + one .bin + metadata.json. */
async function saveModelDir(model: tfl.LayersModel, name: string, output: 'logits' | 'probabilities'): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeLayersModelDir(model, dir);
  const [, height, width, channels] = model.inputs[0]!.shape as number[];
  const outputSize = (model.outputs[0]!.shape as number[]).slice(1).reduce((a, b) => a * b, 1);
  const meta = {
    name,
    labels: Array.from({ length: outputSize }, (_, i) => `class${i}`),
    input: { height, width, channels, layout: 'NHWC' },
    output,
    tfjs: { modelJson: 'model.json', format: 'layers' },
  };
  await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta));
  model.dispose();
  return dir;
}

async function runBoth(dir: string, meta: ModelMetadata, batch: Float32Array): Promise<[Float32Array, Float32Array]> {
  const tfjs = await TfjsEngine.load({ modelDir: dir, meta, intraOpThreads: 1 });
  const onnx = await OnnxEngine.load({ modelDir: dir, meta, intraOpThreads: 1 });
  try {
    return [await tfjs.run(batch, BATCH), await onnx.run(batch, BATCH)];
  } finally {
    await tfjs.dispose();
    await onnx.dispose();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'output lengths differ');
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** How many nodes of each op type the converted model.onnx holds. */
async function opCounts(dir: string): Promise<Record<string, number>> {
  const model = onnxPkg.onnx.ModelProto.decode(await readFile(join(dir, 'model.onnx')));
  const counts: Record<string, number> = {};
  for (const node of model.graph?.node ?? []) counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
  return counts;
}

/**
 * Converts, then compares raw outputs (softmax off) and, for logits models, the softmaxed engine outputs too.
 * Returns the op counts of the converted graph for structural checks.
 */
async function assertConvertsFaithfully(
  t: TestContext,
  model: tfl.LayersModel,
  name: string,
  output: 'logits' | 'probabilities',
): Promise<Record<string, number>> {
  const dir = await saveModelDir(model, name, output);
  const result = await convertTfjsModelDir(dir);
  const meta = await readMetadata(dir);
  assert.deepEqual(meta.onnx, { file: 'model.onnx', inputName: result.inputName, outputName: result.outputName });
  assert.equal(meta.input.layout, 'NHWC');
  const { height, width, channels } = meta.input;
  // One spare image beyond n: engines must only read the first n.
  const batch = seededValues((BATCH + 1) * height * width * channels, name.length * 7919);
  const [tfjsRaw, onnxRaw] = await runBoth(dir, { ...meta, output: 'probabilities' }, batch);
  const diff = maxAbsDiff(tfjsRaw, onnxRaw);
  assert.ok(diff <= TOLERANCE, `${name}: raw outputs differ by ${diff}`);
  t.diagnostic(`${name}: max |tfjs - onnx| = ${diff.toExponential(2)}`);
  assert.ok(
    tfjsRaw.some((v) => Math.abs(v) > 1e-3),
    `${name}: degenerate all-zero output`,
  );
  if (output === 'logits') {
    const [tfjsProbs, onnxProbs] = await runBoth(dir, meta, batch);
    assert.ok(maxAbsDiff(tfjsProbs, onnxProbs) <= TOLERANCE, `${name}: softmaxed outputs differ`);
    const classes = onnxProbs.length / BATCH;
    for (let r = 0; r < BATCH; r++) {
      const sum = onnxProbs.subarray(r * classes, (r + 1) * classes).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `${name}: row ${r} sums to ${sum}`);
    }
  }
  return opCounts(dir);
}

describe('TF.js layers → ONNX conversion matches TF.js', () => {
  test('Sequential conv stack: strided same padding on odd sizes, depthwise ×2, separable, BN folding, pooling, Flatten', async (t) => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({
          inputShape: [17, 17, 3],
          filters: 8,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          activation: 'relu',
          ...biasInit(1),
        }),
        tfl.layers.depthwiseConv2d({
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          depthMultiplier: 2,
          useBias: true,
          ...biasInit(2),
        }),
        tfl.layers.batchNormalization(bnInit(10)),
        tfl.layers.reLU({ maxValue: 6 }),
        tfl.layers.zeroPadding2d({
          padding: [
            [1, 0],
            [0, 2],
          ],
        }),
        tfl.layers.separableConv2d({ filters: 12, kernelSize: 3, padding: 'same', ...biasInit(3) }),
        tfl.layers.batchNormalization(bnInit(20)),
        tfl.layers.activation({ activation: 'relu6' }),
        tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
        tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 10, activation: 'relu', ...biasInit(4) }),
        tfl.layers.dropout({ rate: 0.5 }),
        tfl.layers.dense({ units: 5, ...biasInit(5) }),
      ],
    });
    const ops = await assertConvertsFaithfully(t, model, 'sequential-conv', 'logits');
    assert.equal(ops.BatchNormalization, undefined, 'both BatchNorms fold into their convs');
    assert.equal(ops.Transpose, 2, 'one Transpose at the input, one before Flatten');
    assert.equal(ops.Clip, 2, 'ReLU(max 6) and relu6 become Clip');
  });

  test('functional graph: Rescaling, Add, Concatenate, unfolded BatchNorm (shared conv output, after Dense), GlobalAveragePooling', async (t) => {
    const input = tfl.input({ shape: [13, 11, 3] });
    const scaled = tfl.layers.rescaling({ scale: 2, offset: -1 }).apply(input) as tfl.SymbolicTensor;
    const stem = tfl.layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false })
      .apply(scaled) as tfl.SymbolicTensor;
    const stemBn = tfl.layers.batchNormalization(bnInit(30)).apply(stem) as tfl.SymbolicTensor;
    const branchA = tfl.layers
      .conv2d({ filters: 8, kernelSize: 1, activation: 'relu', ...biasInit(6) })
      .apply(stemBn) as tfl.SymbolicTensor;
    const branchB = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(stemBn) as tfl.SymbolicTensor;
    const branchBAct = tfl.layers.leakyReLU({ alpha: 0.1 }).apply(branchB) as tfl.SymbolicTensor;
    const sum = tfl.layers.add().apply([branchA, branchBAct]) as tfl.SymbolicTensor;
    const joined = tfl.layers.concatenate({ axis: -1 }).apply([sum, stemBn]) as tfl.SymbolicTensor;
    const down = tfl.layers
      .conv2d({ filters: 8, kernelSize: 5, strides: 2, ...biasInit(7) })
      .apply(joined) as tfl.SymbolicTensor;
    // `down` feeds both the BatchNorm and the Add: the BatchNorm must not be folded into it.
    const downBn = tfl.layers.batchNormalization(bnInit(40)).apply(down) as tfl.SymbolicTensor;
    const residual = tfl.layers.add().apply([downBn, down]) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(residual) as tfl.SymbolicTensor;
    const hidden = tfl.layers.dense({ units: 6, ...biasInit(8) }).apply(pooled) as tfl.SymbolicTensor;
    const hiddenBn = tfl.layers.batchNormalization(bnInit(50)).apply(hidden) as tfl.SymbolicTensor;
    const output = tfl.layers
      .dense({ units: 4, activation: 'softmax', ...biasInit(9) })
      .apply(hiddenBn) as tfl.SymbolicTensor;
    const ops = await assertConvertsFaithfully(
      t,
      tfl.model({ inputs: input, outputs: output }),
      'functional-merge',
      'probabilities',
    );
    assert.equal(ops.BatchNormalization, 2, 'stem BN folds; the shared-output and post-Dense BNs stay');
  });

  test('dilation, Cropping2D, Reshape, element-wise merges, GlobalMaxPooling, Softmax layer', async (t) => {
    const input = tfl.input({ shape: [15, 15, 3] });
    const dilated = tfl.layers
      .conv2d({ filters: 6, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'elu', ...biasInit(11) })
      .apply(input) as tfl.SymbolicTensor;
    const cropped = tfl.layers
      .cropping2D({
        cropping: [
          [1, 2],
          [0, 1],
        ],
      })
      .apply(dilated) as tfl.SymbolicTensor;
    const pooled = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(cropped) as tfl.SymbolicTensor; // 6×7×6
    const gate = tfl.layers.activation({ activation: 'sigmoid' }).apply(pooled) as tfl.SymbolicTensor;
    const gated = tfl.layers.multiply().apply([pooled, gate]) as tfl.SymbolicTensor;
    const mean = tfl.layers.average().apply([gated, pooled]) as tfl.SymbolicTensor;
    const peak = tfl.layers.maximum().apply([mean, gate]) as tfl.SymbolicTensor;
    const floor = tfl.layers.minimum().apply([peak, pooled]) as tfl.SymbolicTensor;
    const reshaped = tfl.layers.reshape({ targetShape: [7, 6, 6] }).apply(floor) as tfl.SymbolicTensor;
    const conv = tfl.layers
      .conv2d({ filters: 5, kernelSize: 2, strides: 2, padding: 'same', ...biasInit(12) })
      .apply(reshaped) as tfl.SymbolicTensor;
    const channelSoftmax = tfl.layers.softmax({ axis: -1 }).apply(conv) as tfl.SymbolicTensor;
    const globalMax = tfl.layers.globalMaxPooling2d({}).apply(channelSoftmax) as tfl.SymbolicTensor;
    const output = tfl.layers.dense({ units: 3, ...biasInit(13) }).apply(globalMax) as tfl.SymbolicTensor;
    await assertConvertsFaithfully(t, tfl.model({ inputs: input, outputs: output }), 'misc-layers', 'logits');
  });

  test('activations after Flatten of a spatial input (selu, softplus, softsign, hard_sigmoid, swish, mish, tanh)', async (t) => {
    const activations = ['selu', 'softplus', 'softsign', 'hardSigmoid', 'swish', 'mish', 'tanh'] as const;
    const model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [3, 4, 3] }),
        ...activations.map((activation, i) => tfl.layers.dense({ units: 8, activation, ...biasInit(20 + i) })),
        tfl.layers.dense({ units: 4, ...biasInit(30) }),
      ],
    });
    await assertConvertsFaithfully(t, model, 'dense-activations', 'logits');
  });

  test('spatial model output comes back in NHWC order', async (t) => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({
          inputShape: [9, 7, 3],
          filters: 3,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          ...biasInit(40),
        }),
      ],
    });
    await assertConvertsFaithfully(t, model, 'spatial-output', 'probabilities');
  });
});

describe('conversion failures', () => {
  test('an unsupported layer names the layer and its class', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3 }),
        tfl.layers.upSampling2d({ name: 'up', size: [2, 2] }),
      ],
    });
    const dir = await saveModelDir(model, 'unsupported', 'logits');
    await assert.rejects(convertTfjsModelDir(dir), {
      message: 'cannot convert layer "up" (class UpSampling2D): unsupported layer type',
    });
    const script = fileURLToPath(new URL('../../tools/onnx-convert/cli.ts', import.meta.url));
    const cli = spawnSync(process.execPath, ['--import', 'tsx', script, dir], { encoding: 'utf8' });
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /cannot convert layer "up" \(class UpSampling2D\): unsupported layer type/);
    // No onnx entry; the reason is recorded, for the engine's fallback message.
    const written = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'));
    assert.equal(written.onnx, undefined);
    assert.equal(written.onnxConversionError, 'cannot convert layer "up" (class UpSampling2D): unsupported layer type');
  });
});

describe('building blocks', () => {
  test('TF same padding puts the odd pixel at the end', () => {
    // 13 wide, kernel 3, stride 2: out 7, total pad 2 → 1/1; 12 wide: out 6, total pad 1 → 0/1.
    assert.deepEqual(windowGeometry(13, 12, [3, 3], [2, 2], [1, 1], 'same'), {
      pads: [1, 0, 1, 1],
      outHeight: 7,
      outWidth: 6,
    });
    assert.deepEqual(windowGeometry(11, 11, [3, 3], [1, 1], [2, 2], 'same'), {
      pads: [2, 2, 2, 2],
      outHeight: 11,
      outWidth: 11,
    });
    assert.deepEqual(windowGeometry(9, 8, [3, 2], [2, 2], [1, 1], 'valid'), {
      pads: [0, 0, 0, 0],
      outHeight: 4,
      outWidth: 4,
    });
  });

  test('weights dequantise exactly like tf.io.decodeWeights (uint8, uint16, float16, float32)', async () => {
    const dir = join(root, 'quantised');
    await mkdir(dir, { recursive: true });
    const count = 257;
    const u8 = Uint8Array.from(seededValues(count, 1, 0, 256), Math.floor);
    const u16 = Uint16Array.from(seededValues(count, 2, 0, 65536), Math.floor);
    // Random halves with exponent < 31 (no NaN/Inf), plus subnormals via exponent 0.
    const f16 = Uint16Array.from(seededValues(count, 3, 0, 65536), (v) => Math.floor(v) & 0xfbff);
    const f32 = seededValues(count, 4, -3, 3);
    const specs: WeightSpec[] = [
      {
        name: 'l/a',
        shape: [count],
        dtype: 'float32',
        quantization: { dtype: 'uint8', min: -0.8733451, scale: 0.0066667566 },
      },
      { name: 'l/b', shape: [count], dtype: 'float32', quantization: { dtype: 'uint16', min: 1.5, scale: 1.1e-4 } },
      { name: 'l/c', shape: [count], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'l/d', shape: [count], dtype: 'float32' },
    ];
    const bytes = Buffer.concat([u8, u16, f16, f32].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
    await writeFile(join(dir, 'w.bin'), bytes);
    const mine = await readWeights(dir, [{ paths: ['w.bin'], weights: specs }]);
    const reference = tf.io.decodeWeights(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      specs as tf.io.WeightsManifestEntry[],
    );
    for (const spec of specs) {
      const expected = reference[spec.name]!.dataSync() as Float32Array;
      assert.deepEqual(mine.get(spec.name)!.data, expected, `${spec.name} (${spec.quantization?.dtype ?? spec.dtype})`);
    }
    tf.dispose(Object.values(reference));
  });
});
