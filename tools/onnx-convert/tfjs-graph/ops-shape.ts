/**
 * Ops that move or reduce axes: Reshape (in TF element order), Squeeze, reductions (Mean, Max, Min, Sum, Prod),
 * Pad / PadV2 / MirrorPad and ConcatV2. Axes are TF's; each op maps them onto the tensor's ONNX layout.
 */
import { attrInt, attrInts, attrString } from '../graph-builder.ts';
import {
  afterRemovingAxes,
  constantFor,
  identityPerm,
  isNchw,
  NCHW,
  normaliseAxis,
  onnxAxis,
  tensorFor,
  toPlain,
} from './layout.ts';
import type { Tensor } from './layout.ts';
import { constInput, fail, intsInput, tensorInput } from './op-context.ts';
import type { OpContext, OpConverter } from './op-context.ts';

const known = (shape: number[]): boolean => shape.every((d) => d >= 0);
const product = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function reshape(ctx: OpContext): Tensor {
  const x = toPlain(ctx.graph, tensorInput(ctx, 0));
  const target = intsInput(ctx, 1, 'the shape');
  if (target.some((d) => d === 0 || d < -1) || target.filter((d) => d === -1).length > 1)
    throw fail(ctx, `shape [${target}] is not supported (positive sizes and at most one -1)`);
  // With the input size known the -1 is resolved; otherwise it stays unknown (it is the batch).
  const free = target.indexOf(-1);
  const shape = [...target];
  if (free >= 0 && known(x.shape)) shape[free] = product(x.shape) / -product(target);
  const shapeName = ctx.graph.addInt64Initializer(`${ctx.node.name}/shape`, target);
  const name = ctx.graph.addNode('Reshape', [x.name, shapeName], ctx.node.name);
  return { kind: 'tensor', name, shape, perm: identityPerm(shape.length) };
}

function squeeze(ctx: OpContext): Tensor {
  const x = tensorInput(ctx, 0);
  const listed = ctx.attrs.has('squeeze_dims') ? ctx.attrs.ints('squeeze_dims') : ctx.attrs.ints('axis', []);
  const axes = listed.length
    ? listed.map((a) => normaliseAxis(a, x.shape.length))
    : x.shape.flatMap((d, axis) => (d === 1 ? [axis] : []));
  const bad = axes.filter((a) => x.shape[a] !== 1 && x.shape[a] !== -1);
  if (bad.length) throw fail(ctx, `cannot squeeze axes [${bad}] of shape [${x.shape}]`);
  const onnxAxes = ctx.graph.addInt64Initializer(
    `${ctx.node.name}/axes`,
    axes.map((a) => onnxAxis(x, a)),
  );
  return afterRemovingAxes(ctx.graph, ctx.graph.addNode('Squeeze', [x.name, onnxAxes], ctx.node.name), x, axes);
}

/** TF reductions; opset 13 takes ReduceSum's axes as an input and the others' as an attribute. */
function reduce(onnxOp: string): OpConverter {
  return (ctx) => {
    ctx.attrs.requireFloat();
    const x = tensorInput(ctx, 0);
    const axes = [...new Set(intsInput(ctx, 1, 'the axes').map((a) => normaliseAxis(a, x.shape.length)))];
    const keep = ctx.attrs.bool('keep_dims', false);
    const onnxAxes = axes.map((a) => onnxAxis(x, a));
    const inputs = [x.name];
    const attributes = {
      keepdims: attrInt(keep ? 1 : 0),
      ...(onnxOp === 'ReduceSum' ? {} : { axes: attrInts(onnxAxes) }),
    };
    if (onnxOp === 'ReduceSum') inputs.push(ctx.graph.addInt64Initializer(`${ctx.node.name}/axes`, onnxAxes));
    const name = ctx.graph.addNode(onnxOp, inputs, ctx.node.name, attributes);
    if (keep) return { ...x, name, shape: x.shape.map((d, a) => (axes.includes(a) ? 1 : d)) };
    return afterRemovingAxes(ctx.graph, name, x, axes);
  };
}

function pad(mode: 'constant' | 'mirror'): OpConverter {
  return (ctx) => {
    ctx.attrs.requireFloat();
    const x = tensorInput(ctx, 0);
    const rank = x.shape.length;
    const paddings = intsInput(ctx, 1, 'the paddings');
    if (paddings.length !== 2 * rank || paddings.some((p) => p < 0))
      throw fail(ctx, `paddings [${paddings}] must be ${rank}×2 non-negative sizes`);
    const begins = x.perm.map((a) => paddings[2 * a]!);
    const ends = x.perm.map((a) => paddings[2 * a + 1]!);
    const inputs = [x.name, ctx.graph.addInt64Initializer(`${ctx.node.name}/pads`, [...begins, ...ends])];
    let onnxMode = 'constant';
    if (mode === 'mirror') {
      const tfMode = ctx.attrs.string('mode');
      if (tfMode !== 'REFLECT') throw fail(ctx, `mode ${tfMode} is not supported (REFLECT only)`);
      onnxMode = 'reflect';
    } else if (ctx.inputs.length > 2) {
      const value = constInput(ctx, 2, 'the constant value');
      inputs.push(ctx.graph.addScalar(`${ctx.node.name}/value`, value.data[0]!));
    }
    const name = ctx.graph.addNode('Pad', inputs, ctx.node.name, { mode: attrString(onnxMode) });
    const shape = x.shape.map((d, a) => (d < 0 ? d : d + paddings[2 * a]! + paddings[2 * a + 1]!));
    return { ...x, name, shape };
  };
}

/** ConcatV2: N values then the axis; all values join in one layout (NCHW when a rank-4 input already is). */
function concat(ctx: OpContext): Tensor {
  ctx.attrs.requireFloat();
  const values = ctx.inputs.slice(0, -1);
  if (!values.length) throw fail(ctx, 'has no values to concatenate');
  const rank = values[0]!.shape.length;
  const [rawAxis] = intsInput(ctx, ctx.inputs.length - 1, 'the axis');
  const axis = normaliseAxis(rawAxis!, rank);
  if (values.some((v) => v.shape.length !== rank)) throw fail(ctx, 'values of different ranks');
  const perm = rank === 4 && values.some(isNchw) ? NCHW : identityPerm(rank);
  const names = values.map((v) =>
    v.kind === 'const' ? constantFor(ctx.graph, v, rank, perm) : tensorFor(ctx.graph, v, rank, perm),
  );
  const shape = values[0]!.shape.map((d, a) =>
    a !== axis ? d : values.some((v) => v.shape[a]! < 0) ? -1 : values.reduce((s, v) => s + v.shape[a]!, 0),
  );
  const name = ctx.graph.addNode('Concat', names, ctx.node.name, { axis: attrInt(perm.indexOf(axis)) });
  return { kind: 'tensor', name, shape, perm };
}

export const SHAPE_OPS: Record<string, OpConverter> = {
  Reshape: reshape,
  Squeeze: squeeze,
  Mean: reduce('ReduceMean'),
  Max: reduce('ReduceMax'),
  Min: reduce('ReduceMin'),
  Sum: reduce('ReduceSum'),
  Prod: reduce('ReduceProd'),
  Pad: pad('constant'),
  PadV2: pad('constant'),
  MirrorPad: pad('mirror'),
  ConcatV2: concat,
};
