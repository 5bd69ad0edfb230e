/**
 * TF.js graph models → ONNX, op by op: each case is a small graph model written here (as tensorflowjs_converter
 * lays one out), run through TF.js (cpu backend) and, converted, through ONNX Runtime on the same seeded random
 * batch. Outputs must agree within 1e-5 absolute, with the same shape. Then the whole nsfwjs mobilenet_v2_mid
 * (exported from the npm package into a temp dir) through the service's two engines, within 1e-4; and an op the
 * converter does not know, which must be named and leave the model on TF.js with that reason.
 *
 *   node --import tsx --test test/unit/onnx-convert-graph.test.ts
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { convertTfjsModel, convertTfjsModelDir } from '../../tools/onnx-convert/convert.ts';
import { loadEngine } from '../../src/model/load-engine.ts';
import { readMetadata } from '../../src/model/metadata.ts';
import { OnnxEngine } from '../../src/model/onnx-engine.ts';
import { TfjsEngine } from '../../src/model/tfjs-engine.ts';
import { readTfjsModelDir } from '../../src/model/tfjs-model-files.ts';
import { exportModelFiles, nsfwjsModelsDir, writeNsfwjsMetadata } from '../../scripts/lib/nsfwjs-models.ts';
import { seededValues } from '../helpers/seeded-values.ts';
import { attr, writeGraphModelDir } from '../helpers/tfjs-graph-models.ts';
import type { GraphConst, GraphModelSpec, GraphNodeSpec } from '../helpers/tfjs-graph-models.ts';

const OP_TOLERANCE = 1e-5;
const MODEL_TOLERANCE = 1e-4;
const BATCH = 2;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'onnx-convert-graph-'));
  await tf.setBackend('cpu');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let seed = 100;
/** Seeded random float constant. */
const rand = (shape: number[], lo = -0.5, hi = 0.5): GraphConst => ({
  shape,
  values: seededValues(
    shape.reduce((a, b) => a * b, 1),
    seed++,
    lo,
    hi,
  ),
});
const ints = (values: number[], shape = [values.length]): GraphConst => ({ shape, values, dtype: 'int32' });

const nhwc = attr.str('NHWC');
const convAttrs = (padding: string, strides = [1, 1, 1, 1], extra: Record<string, Record<string, unknown>> = {}) => ({
  strides: attr.ints(strides),
  padding: attr.str(padding),
  dilations: attr.ints([1, 1, 1, 1]),
  data_format: nhwc,
  ...extra,
});
const fused = (ops: string[], numArgs: number, extra: Record<string, Record<string, unknown>> = {}) => ({
  fused_ops: attr.strs(ops),
  num_args: attr.int(numArgs),
  ...extra,
});

/** A 3×3 SAME conv from x (3 channels) to `channels`, so later ops see an NCHW tensor in the ONNX graph. */
const convFromX = (name: string, channels = 4): { consts: Record<string, GraphConst>; node: GraphNodeSpec } => ({
  consts: { [`${name}/w`]: rand([3, 3, 3, channels]) },
  node: { name, op: 'Conv2D', inputs: ['x', `${name}/w`], attr: convAttrs('SAME') },
});

interface OpCase {
  name: string;
  /** Placeholder shape with the batch as -1. */
  input: number[];
  consts?: Record<string, GraphConst>;
  nodes: GraphNodeSpec[];
  /** Range of the random input values. */
  range?: [number, number];
}

/** One op applied to x (or to a conv of x when `afterConv`), with its constants. */
function single(
  name: string,
  op: string,
  opts: {
    input?: number[];
    consts?: Record<string, GraphConst>;
    extraInputs?: string[];
    attr?: Record<string, Record<string, unknown>>;
    afterConv?: boolean;
    range?: [number, number];
  } = {},
): OpCase {
  const conv = convFromX('c');
  const source = opts.afterConv ? 'c' : 'x';
  return {
    name,
    input: opts.input ?? [-1, 6, 5, 3],
    consts: { ...(opts.afterConv ? conv.consts : {}), ...opts.consts },
    nodes: [
      ...(opts.afterConv ? [conv.node] : []),
      { name: 'out', op, inputs: [source, ...(opts.extraInputs ?? [])], attr: opts.attr },
    ],
    range: opts.range,
  };
}

const CONV_CASES: OpCase[] = [
  single('Conv2D SAME stride 1', 'Conv2D', {
    consts: { w: rand([3, 3, 3, 4]) },
    extraInputs: ['w'],
    attr: convAttrs('SAME'),
  }),
  single('Conv2D VALID stride 2, 5×5 input (odd edge)', 'Conv2D', {
    input: [-1, 7, 6, 3],
    consts: { w: rand([3, 2, 3, 5]) },
    extraInputs: ['w'],
    attr: convAttrs('VALID', [1, 2, 2, 1]),
  }),
  single('Conv2D SAME stride 2 (the extra pad goes at the end)', 'Conv2D', {
    input: [-1, 8, 7, 3],
    consts: { w: rand([3, 3, 3, 2]) },
    extraInputs: ['w'],
    attr: convAttrs('SAME', [1, 2, 2, 1]),
  }),
  single('Conv2D SAME dilation 2', 'Conv2D', {
    input: [-1, 9, 9, 3],
    consts: { w: rand([3, 3, 3, 2]) },
    extraInputs: ['w'],
    attr: { ...convAttrs('SAME'), dilations: attr.ints([1, 2, 2, 1]) },
  }),
  single('Conv2D EXPLICIT padding', 'Conv2D', {
    consts: { w: rand([3, 3, 3, 2]) },
    extraInputs: ['w'],
    attr: convAttrs('EXPLICIT', [1, 1, 1, 1], { explicit_paddings: attr.ints([0, 0, 2, 1, 0, 1, 0, 0]) }),
  }),
  single('DepthwiseConv2dNative SAME stride 2, multiplier 2', 'DepthwiseConv2dNative', {
    input: [-1, 7, 8, 3],
    consts: { w: rand([3, 3, 3, 2]) },
    extraInputs: ['w'],
    attr: convAttrs('SAME', [1, 2, 2, 1]),
  }),
  ...['', 'Relu', 'Relu6', 'Elu', 'LeakyRelu', 'Sigmoid'].map((act) =>
    single(`_FusedConv2D BiasAdd${act ? ` + ${act}` : ''}`, '_FusedConv2D', {
      consts: { w: rand([3, 3, 3, 4], -1, 1), b: rand([4], -1, 1) },
      extraInputs: ['w', 'b'],
      attr: {
        ...convAttrs('SAME'),
        ...fused(act ? ['BiasAdd', act] : ['BiasAdd'], 1, { leakyrelu_alpha: attr.float(0.3) }),
      },
      range: [-3, 3],
    }),
  ),
  single('_FusedConv2D BiasAdd + Prelu', '_FusedConv2D', {
    consts: { w: rand([3, 3, 3, 4], -1, 1), b: rand([4]), alpha: rand([4], 0, 0.5) },
    extraInputs: ['w', 'b', 'alpha'],
    attr: { ...convAttrs('SAME'), ...fused(['BiasAdd', 'Prelu'], 2) },
  }),
  single('FusedDepthwiseConv2dNative BiasAdd + Relu6', 'FusedDepthwiseConv2dNative', {
    consts: { w: rand([3, 3, 3, 1], -2, 2), b: rand([3], -1, 1) },
    extraInputs: ['w', 'b'],
    attr: { ...convAttrs('SAME', [1, 2, 2, 1]), ...fused(['BiasAdd', 'Relu6'], 1) },
    range: [-3, 3],
  }),
  single('MaxPool SAME 3×3 stride 2', 'MaxPool', {
    input: [-1, 7, 6, 3],
    attr: { ksize: attr.ints([1, 3, 3, 1]), ...convAttrs('SAME', [1, 2, 2, 1]) },
  }),
  single('AvgPool SAME 3×3 stride 1 (padding not counted)', 'AvgPool', {
    attr: { ksize: attr.ints([1, 3, 3, 1]), ...convAttrs('SAME') },
  }),
  single('AvgPool VALID 2×2 stride 2', 'AvgPool', {
    input: [-1, 6, 6, 3],
    attr: { ksize: attr.ints([1, 2, 2, 1]), ...convAttrs('VALID', [1, 2, 2, 1]) },
  }),
];

const MATMUL_CASES: OpCase[] = [
  single('MatMul', 'MatMul', { input: [-1, 6], consts: { w: rand([6, 4]) }, extraInputs: ['w'] }),
  single('MatMul transpose_b', 'MatMul', {
    input: [-1, 6],
    consts: { w: rand([4, 6]) },
    extraInputs: ['w'],
    attr: { transpose_b: attr.bool(true), transpose_a: attr.bool(false) },
  }),
  single('_FusedMatMul BiasAdd', '_FusedMatMul', {
    input: [-1, 6],
    consts: { w: rand([6, 4]), b: rand([4]) },
    extraInputs: ['w', 'b'],
    attr: fused(['BiasAdd'], 1),
  }),
  single('_FusedMatMul BiasAdd + Relu', '_FusedMatMul', {
    input: [-1, 6],
    consts: { w: rand([6, 4], -1, 1), b: rand([4]) },
    extraInputs: ['w', 'b'],
    attr: fused(['BiasAdd', 'Relu'], 1),
  }),
];

const BINARY_OPS = ['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum'];

/** Each binary op on two NCHW conv outputs, against a per-channel constant, a scalar and an [H, W, C] constant. */
const BINARY_CASES: OpCase[] = BINARY_OPS.flatMap((op) => {
  const [a, b] = [convFromX('a'), convFromX('b')];
  const divisor = op === 'RealDiv';
  return [
    {
      name: `${op}: two tensors`,
      input: [-1, 5, 4, 3],
      consts: { ...a.consts, ...b.consts },
      nodes: [
        a.node,
        ...(divisor
          ? [b.node, { name: 'bpos', op: 'Abs', inputs: ['b'] }, { name: 'bb', op: 'AddV2', inputs: ['bpos', 'one'] }]
          : [b.node]),
        { name: 'out', op, inputs: ['a', divisor ? 'bb' : 'b'] },
      ],
      ...(divisor ? { consts: { ...a.consts, ...b.consts, one: { shape: [], values: [1] } } } : {}),
    },
    single(`${op}: per-channel constant`, op, {
      afterConv: true,
      consts: { k: rand([4], 0.5, 1.5) },
      extraInputs: ['k'],
    }),
    single(`${op}: scalar constant`, op, { consts: { k: { shape: [], values: [1.25] } }, extraInputs: ['k'] }),
    single(`${op}: [H, W, C] constant after a conv`, op, {
      afterConv: true,
      consts: { k: rand([6, 5, 4], 0.5, 1.5) },
      extraInputs: ['k'],
    }),
  ];
});

const ELEMENTWISE_CASES: OpCase[] = [
  ...BINARY_CASES,
  {
    name: 'AddV2: conv output (NCHW) + the NHWC input',
    input: [-1, 5, 4, 3],
    consts: convFromX('c', 3).consts,
    nodes: [convFromX('c', 3).node, { name: 'out', op: 'AddV2', inputs: ['c', 'x'] }],
  },
  single('BiasAdd after a conv', 'BiasAdd', {
    afterConv: true,
    consts: { b: rand([4]) },
    extraInputs: ['b'],
    attr: { data_format: nhwc },
  }),
  single('BiasAdd on a matrix', 'BiasAdd', { input: [-1, 6], consts: { b: rand([6]) }, extraInputs: ['b'] }),
  ...['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'Softplus', 'Neg', 'Abs'].map((op) =>
    single(op, op, { afterConv: true, range: [-4, 4] }),
  ),
  // On the input itself: e^x of a conv output reaches 1e5, where one float32 step is already 0.01.
  single('Exp', 'Exp'),
  single('LeakyRelu alpha 0.1', 'LeakyRelu', { afterConv: true, attr: { alpha: attr.float(0.1) } }),
  {
    name: 'Sqrt and Log of a positive tensor',
    input: [-1, 4, 4, 3],
    consts: { one: { shape: [], values: [1] } },
    nodes: [
      { name: 'pos', op: 'Abs', inputs: ['x'] },
      { name: 'shift', op: 'AddV2', inputs: ['pos', 'one'] },
      { name: 'root', op: 'Sqrt', inputs: ['shift'] },
      { name: 'out', op: 'Log', inputs: ['root'] },
    ],
  },
  single('Softmax on a matrix', 'Softmax', { input: [-1, 7], range: [-5, 5] }),
  single('Softmax over the channels of a conv output', 'Softmax', { afterConv: true }),
  single('FusedBatchNormV3 after a conv', 'FusedBatchNormV3', {
    afterConv: true,
    consts: { g: rand([4], 0.5, 1.5), be: rand([4]), m: rand([4]), v: rand([4], 0.5, 1.5) },
    extraInputs: ['g', 'be', 'm', 'v'],
    attr: { epsilon: attr.float(0.001), data_format: nhwc, is_training: attr.bool(false) },
  }),
  single('Identity', 'Identity', { afterConv: true }),
];

const SHAPE_CASES: OpCase[] = [
  single('Reshape of a conv output to [-1, H·W·C] (TF element order)', 'Reshape', {
    afterConv: true,
    consts: { s: ints([-1, 120]) },
    extraInputs: ['s'],
  }),
  single('Reshape of a matrix to [-1, 2, 3]', 'Reshape', {
    input: [-1, 6],
    consts: { s: ints([-1, 2, 3]) },
    extraInputs: ['s'],
  }),
  {
    name: 'Squeeze [1, 2] of a 1×1 pool',
    input: [-1, 4, 4, 3],
    consts: convFromX('c').consts,
    nodes: [
      convFromX('c').node,
      { name: 'p', op: 'AvgPool', inputs: ['c'], attr: { ksize: attr.ints([1, 4, 4, 1]), ...convAttrs('VALID') } },
      { name: 'out', op: 'Squeeze', inputs: ['p'], attr: { squeeze_dims: attr.ints([1, 2]) } },
    ],
  },
  single('Squeeze with no axes drops every size-1 axis', 'Squeeze', { input: [-1, 1, 5, 1] }),
  ...[
    { op: 'Mean', axes: [1, 2], keep: false },
    { op: 'Mean', axes: [1, 2], keep: true },
    { op: 'Mean', axes: [2], keep: false },
    { op: 'Max', axes: [3], keep: false },
    { op: 'Min', axes: [-1], keep: true },
    { op: 'Sum', axes: [1], keep: false },
    { op: 'Prod', axes: [3], keep: false },
  ].map(({ op, axes, keep }) =>
    single(`${op} over [${axes}]${keep ? ' keeping dims' : ''} of a conv output`, op, {
      afterConv: true,
      consts: { axes: ints(axes) },
      extraInputs: ['axes'],
      attr: { keep_dims: attr.bool(keep) },
    }),
  ),
  single('Pad after a conv', 'Pad', {
    afterConv: true,
    consts: { p: ints([0, 0, 1, 2, 0, 1, 0, 0], [4, 2]) },
    extraInputs: ['p'],
  }),
  single('PadV2 with 0.5, channels too', 'PadV2', {
    consts: { p: ints([0, 0, 1, 0, 2, 1, 1, 1], [4, 2]), v: { shape: [], values: [0.5] } },
    extraInputs: ['p', 'v'],
  }),
  single('MirrorPad REFLECT after a conv', 'MirrorPad', {
    afterConv: true,
    consts: { p: ints([0, 0, 2, 1, 1, 2, 0, 0], [4, 2]) },
    extraInputs: ['p'],
    attr: { mode: attr.str('REFLECT') },
  }),
  {
    name: 'ConcatV2 of two conv outputs and the input on the channels',
    input: [-1, 5, 4, 3],
    consts: { ...convFromX('a').consts, ...convFromX('b', 2).consts, axis: ints([3], []) },
    nodes: [
      convFromX('a').node,
      convFromX('b', 2).node,
      { name: 'out', op: 'ConcatV2', inputs: ['a', 'b', 'x', 'axis'], attr: { N: attr.int(3) } },
    ],
  },
  {
    name: 'ConcatV2 of two conv outputs on the width',
    input: [-1, 5, 4, 3],
    consts: { ...convFromX('a').consts, ...convFromX('b').consts, axis: ints([-2], []) },
    nodes: [
      convFromX('a').node,
      convFromX('b').node,
      { name: 'out', op: 'ConcatV2', inputs: ['a', 'b', 'axis'], attr: { N: attr.int(2) } },
    ],
  },
];

async function runTfjs(dir: string, spec: GraphModelSpec, input: Float32Array): Promise<tf.Tensor> {
  const model = await tfc.loadGraphModel(await readTfjsModelDir(dir, 'model.json'));
  const shape = [BATCH, ...spec.inputShape.slice(1)];
  const out = tf.tidy(() => model.execute(tf.tensor(input, shape), 'out') as tf.Tensor);
  model.dispose();
  return out;
}

async function runOnnx(json: Record<string, unknown>, dir: string, spec: GraphModelSpec, input: Float32Array) {
  const converted = await convertTfjsModel(json, dir);
  assert.equal(converted.outputName, 'out');
  const session = await ort.InferenceSession.create(converted.bytes);
  try {
    const x = new ort.Tensor('float32', input, [BATCH, ...spec.inputShape.slice(1)]);
    const out = (await session.run({ [converted.inputName]: x }))[converted.outputName]!;
    return { data: out.data as Float32Array, dims: [...out.dims] };
  } finally {
    await session.release();
  }
}

async function assertOpMatches(t: TestContext, c: OpCase): Promise<void> {
  const spec: GraphModelSpec = { inputShape: c.input, consts: c.consts ?? {}, nodes: c.nodes };
  const dir = join(root, c.name.replace(/[^A-Za-z0-9]+/g, '-'));
  const json = await writeGraphModelDir(dir, spec);
  const [lo, hi] = c.range ?? [-2, 2];
  const input = seededValues(BATCH * c.input.slice(1).reduce((a, b) => a * b, 1), 7, lo, hi);
  const expected = await runTfjs(dir, spec, input);
  const actual = await runOnnx(json, dir, spec, input);
  const want = expected.dataSync() as Float32Array;
  assert.deepEqual(actual.dims, expected.shape, 'output shape');
  expected.dispose();
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - actual.data[i]!));
  t.diagnostic(`max |ONNX − TF.js| = ${worst.toExponential(2)}`);
  assert.ok(worst <= OP_TOLERANCE, `max |ONNX − TF.js| = ${worst} > ${OP_TOLERANCE}`);
}

for (const [group, cases] of Object.entries({
  'convolutions and pools': CONV_CASES,
  'matrix products': MATMUL_CASES,
  'element-wise ops': ELEMENTWISE_CASES,
  'shape ops': SHAPE_CASES,
})) {
  describe(`graph op: ${group}`, () => {
    for (const c of cases) test(c.name, (t) => assertOpMatches(t, c));
  });
}

describe('whole models', () => {
  test('nsfwjs mobilenet_v2_mid: ONNX Runtime within 1e-4 of TF.js on a random batch', async (t) => {
    const dir = join(root, 'mobilenet_v2_mid');
    await exportModelFiles(join(nsfwjsModelsDir(), 'mobilenet_v2_mid'), dir);
    await writeNsfwjsMetadata(dir, { title: 'nsfwjs-mobilenet-v2-mid', size: 224, format: 'graph' });
    const result = await convertTfjsModelDir(dir);
    assert.equal(result.inputName, 'input');
    const meta = await readMetadata(dir);
    assert.deepEqual(meta.onnx, { file: 'model.onnx', inputName: 'input', outputName: 'Identity' });
    const batch = seededValues(3 * 224 * 224 * 3, 11);
    const tfjs = await TfjsEngine.load({ modelDir: dir, meta, intraOpThreads: 1 });
    const onnx = await OnnxEngine.load({ modelDir: dir, meta, intraOpThreads: 1 });
    try {
      const [want, got] = [await tfjs.run(batch, 3), await onnx.run(batch, 3)];
      assert.equal(got.length, 15);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
      t.diagnostic(`max |ONNX − TF.js (${tfjs.info.backend})| = ${worst.toExponential(2)}`);
      assert.ok(worst <= MODEL_TOLERANCE, `max difference ${worst}`);
    } finally {
      await tfjs.dispose();
      await onnx.dispose();
    }
  });
});

describe('conversion failures', () => {
  test('an unknown op is named, recorded in metadata, and the model stays on TF.js with that reason', async () => {
    const dir = join(root, 'unknown-op');
    await writeGraphModelDir(dir, {
      inputShape: [-1, 4, 4, 3],
      consts: { axes: ints([1, 2]) },
      nodes: [
        { name: 'rounded', op: 'Floor', inputs: ['x'] },
        { name: 'out', op: 'Mean', inputs: ['rounded', 'axes'], attr: { keep_dims: attr.bool(false) } },
      ],
    });
    const meta = {
      name: 'unknown-op',
      labels: ['a', 'b', 'c'],
      input: { height: 4, width: 4, channels: 3, layout: 'NHWC' },
      output: 'logits',
      tfjs: { modelJson: 'model.json', format: 'graph' },
      onnx: { file: 'model.onnx' },
    };
    await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta));
    const reason = 'cannot convert node "rounded" (op Floor): unsupported op';
    await assert.rejects(convertTfjsModelDir(dir), { message: reason });

    const script = fileURLToPath(new URL('../../tools/onnx-convert/cli.ts', import.meta.url));
    const cli = spawnSync(process.execPath, ['--import', 'tsx', script, dir], { encoding: 'utf8' });
    assert.equal(cli.status, 1);
    assert.ok(cli.stderr.includes(reason), cli.stderr);
    assert.match(cli.stderr, /supported ops: .*_FusedConv2D/);

    const written = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'));
    assert.equal(written.onnx, undefined, 'a stale onnx entry is removed');
    assert.equal(written.onnxConversionError, reason);
    const loaded = await loadEngine({
      engine: 'auto',
      modelDir: dir,
      meta: await readMetadata(dir),
      intraOpThreads: 1,
    });
    try {
      assert.equal(loaded.engine.info.engine, 'tfjs');
      assert.equal(loaded.fallbackReason, `model unknown-op could not be converted to ONNX: ${reason}`);
    } finally {
      await loaded.engine.dispose();
    }

    // Once the model converts, the recorded reason goes and the onnx entry is back.
    const modelJson = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    modelJson.modelTopology.node.find((n: { name: string }) => n.name === 'rounded').op = 'Relu';
    await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
    await convertTfjsModelDir(dir);
    const fixed = await readMetadata(dir);
    assert.equal(fixed.onnxConversionError, undefined);
    assert.deepEqual(fixed.onnx, { file: 'model.onnx', inputName: 'x', outputName: 'out' });
  });
});
