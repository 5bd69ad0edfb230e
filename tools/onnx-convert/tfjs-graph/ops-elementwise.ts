/**
 * Element-wise ops: binary arithmetic with TF broadcasting (constants laid out to match NCHW tensors), unary
 * activations and math, Softmax over the last TF axis, inference-mode FusedBatchNorm, and pass-throughs.
 */
import { attrInt } from '../graph-builder.ts';
import { applyActivation } from './activations.ts';
import { constantFor, identityPerm, isNchw, NCHW, onnxAxis, tensorFor } from './layout.ts';
import type { Constant, Operand, Tensor } from './layout.ts';
import { constInput, fail, requireNhwc, tensorInput } from './op-context.ts';
import type { OpContext, OpConverter } from './op-context.ts';

/** TF broadcasting of two static-or-unknown shapes (aligned at the end; -1 is unknown). */
function broadcastShape(ctx: OpContext, a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const at = (s: number[], i: number): number => s[i - (rank - s.length)] ?? 1;
  return Array.from({ length: rank }, (_, i) => {
    const [x, y] = [at(a, i), at(b, i)];
    if (x === 1) return y;
    if (y === 1 || x === y) return x;
    if (x < 0 || y < 0) return Math.max(x, y);
    throw fail(ctx, `shapes [${a}] and [${b}] do not broadcast`);
  });
}

/** Both operands in one layout: NCHW when a full-rank operand already is, TF order otherwise. */
function binary(ctx: OpContext, onnxOp: string): Tensor {
  ctx.attrs.requireFloat();
  if (ctx.inputs.length !== 2) throw fail(ctx, `expects 2 inputs, got ${ctx.inputs.length}`);
  const operands = ctx.inputs as [Operand, Operand];
  const shape = broadcastShape(ctx, operands[0].shape, operands[1].shape);
  const rank = shape.length;
  const perm = rank === 4 && operands.some(isNchw) ? NCHW : identityPerm(rank);
  const names = operands.map((o) =>
    o.kind === 'const' ? constantFor(ctx.graph, o, rank, perm) : tensorFor(ctx.graph, o, rank, perm),
  );
  return { kind: 'tensor', name: ctx.graph.addNode(onnxOp, names, ctx.node.name), shape, perm };
}

/** BiasAdd: a bias over the last (channel) axis, which is plain broadcasting in NHWC. */
function biasAdd(ctx: OpContext): Tensor {
  requireNhwc(ctx);
  const bias = constInput(ctx, 1, 'the bias');
  if (bias.shape.length !== 1) throw fail(ctx, `bias shape [${bias.shape}] must be 1-D`);
  return binary(ctx, 'Add');
}

function unary(onnxOp: string): OpConverter {
  return (ctx) => {
    ctx.attrs.requireFloat();
    const x = tensorInput(ctx, 0);
    return { ...x, name: ctx.graph.addNode(onnxOp, [x.name], ctx.node.name) };
  };
}

function activation(name: string): OpConverter {
  return (ctx) => {
    ctx.attrs.requireFloat();
    const x = tensorInput(ctx, 0);
    return applyActivation(ctx.graph, x, name, ctx.node.name, { alpha: ctx.attrs.float('alpha', 0.2) });
  };
}

function softmax(ctx: OpContext): Tensor {
  ctx.attrs.requireFloat();
  const x = tensorInput(ctx, 0);
  const axis = attrInt(onnxAxis(x, -1));
  return { ...x, name: ctx.graph.addNode('Softmax', [x.name], ctx.node.name, { axis }) };
}

/** Inference batch norm as one scale and one shift per channel: x · γ/√(σ²+ε) + (β − μ · γ/√(σ²+ε)). */
function fusedBatchNorm(ctx: OpContext): Tensor {
  requireNhwc(ctx);
  if (ctx.attrs.bool('is_training', false)) throw fail(ctx, 'is_training batch norm is not supported');
  const x = tensorInput(ctx, 0);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => constInput(ctx, i, 'a batch-norm parameter'));
  const epsilon = ctx.attrs.float('epsilon', 0.001);
  const channels = gamma!.data.length;
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = gamma!.data[c]! / Math.sqrt(variance!.data[c]! + epsilon);
    shift[c] = beta!.data[c]! - mean!.data[c]! * scale[c]!;
  }
  const param = (suffix: string, data: Float32Array): Constant => ({
    kind: 'const',
    name: `${ctx.node.name}/${suffix}`,
    data,
    shape: [channels],
  });
  const rank = x.shape.length;
  const scaled = ctx.graph.addNode(
    'Mul',
    [x.name, constantFor(ctx.graph, param('scale', scale), rank, x.perm)],
    `${ctx.node.name}/scale`,
  );
  const name = ctx.graph.addNode(
    'Add',
    [scaled, constantFor(ctx.graph, param('shift', shift), rank, x.perm)],
    ctx.node.name,
  );
  return { ...x, name };
}

const passThrough: OpConverter = (ctx) => tensorInput(ctx, 0);

const ACTIVATION_OPS = ['Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softplus'];

export const ELEMENTWISE_OPS: Record<string, OpConverter> = {
  Add: (ctx) => binary(ctx, 'Add'),
  AddV2: (ctx) => binary(ctx, 'Add'),
  Sub: (ctx) => binary(ctx, 'Sub'),
  Mul: (ctx) => binary(ctx, 'Mul'),
  RealDiv: (ctx) => binary(ctx, 'Div'),
  Maximum: (ctx) => binary(ctx, 'Max'),
  Minimum: (ctx) => binary(ctx, 'Min'),
  BiasAdd: biasAdd,
  ...Object.fromEntries(ACTIVATION_OPS.map((op) => [op, activation(op)])),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Sqrt: unary('Sqrt'),
  Neg: unary('Neg'),
  Abs: unary('Abs'),
  Softmax: softmax,
  FusedBatchNorm: fusedBatchNorm,
  FusedBatchNormV2: fusedBatchNorm,
  FusedBatchNormV3: fusedBatchNorm,
  Identity: passThrough,
  StopGradient: passThrough,
};
