/**
 * Values flowing through the converted graph and their layouts. TF graphs are NHWC; ONNX convolutions are NCHW.
 * Each tensor records which TF axis every ONNX axis holds (`perm`), so a chain of convolutions stays NCHW and a
 * Transpose is emitted only where an op needs TF's element order (Reshape, graph outputs).
 */
import { attrInts } from '../graph-builder.ts';
import type { GraphBuilder } from '../graph-builder.ts';

/** A runtime tensor. `shape` is in TF axis order, -1 where unknown (the batch); ONNX axis i holds TF axis perm[i]. */
export interface Tensor {
  kind: 'tensor';
  name: string;
  shape: number[];
  perm: number[];
}

/** A Const node's value (from the weights manifest), kept in TF order until an op decides how to use it. */
export interface Constant {
  kind: 'const';
  name: string;
  data: Float32Array;
  shape: number[];
}

export type Operand = Tensor | Constant;

/** NHWC data held as NCHW. */
export const NCHW = [0, 3, 1, 2];

export const identityPerm = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);

const samePerm = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export const isPlain = (t: Tensor): boolean => samePerm(t.perm, identityPerm(t.perm.length));

export const isNchw = (t: Operand): boolean => t.kind === 'tensor' && samePerm(t.perm, NCHW);

/** A TF axis (negatives count from the end) as a non-negative TF axis; throws when out of range. */
export function normaliseAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** The ONNX axis that holds TF axis `axis` of `t`. */
export function onnxAxis(t: Tensor, axis: number): number {
  return t.perm.indexOf(normaliseAxis(axis, t.shape.length));
}

/** `t` with its data laid out so that ONNX axis i holds TF axis perm[i]: a Transpose unless it already is. */
export function toPerm(graph: GraphBuilder, t: Tensor, perm: number[]): Tensor {
  if (samePerm(t.perm, perm)) return t;
  const onnxPerm = perm.map((axis) => t.perm.indexOf(axis));
  const name = graph.addNode('Transpose', [t.name], `${t.name}/transpose`, { perm: attrInts(onnxPerm) });
  return { ...t, name, perm };
}

export const toPlain = (graph: GraphBuilder, t: Tensor): Tensor => toPerm(graph, t, identityPerm(t.shape.length));

export function toNchw(graph: GraphBuilder, t: Tensor): Tensor {
  if (t.shape.length !== 4) throw new Error(`expects a rank-4 NHWC tensor, got shape [${t.shape}]`);
  return toPerm(graph, t, NCHW);
}

/**
 * After an op removed axes from a tensor (Squeeze, Mean): renumber the remaining TF axes and keep the layout only
 * when it is plain or NCHW, the two layouts the converter reasons about; any other order is transposed to plain.
 */
export function afterRemovingAxes(graph: GraphBuilder, name: string, before: Tensor, removed: number[]): Tensor {
  const kept = before.perm.filter((axis) => !removed.includes(axis));
  const renumber = (axis: number): number => axis - removed.filter((r) => r < axis).length;
  const perm = kept.map(renumber);
  const shape = before.shape.filter((_, axis) => !removed.includes(axis));
  const t: Tensor = { kind: 'tensor', name, shape, perm };
  return isPlain(t) || (perm.length === 4 && samePerm(perm, NCHW)) ? t : toPlain(graph, t);
}

/** Generic N-d transpose of a row-major array: output axis i is input axis perm[i]. */
export function transposeData(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  if (rank <= 1 || samePerm(perm, identityPerm(rank))) return data;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; s *= shape[i]!, i--) inStrides[i] = s;
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += index[i]! * inStrides[perm[i]!]!;
    out[o] = data[src]!;
    for (let i = rank - 1; i >= 0 && ++index[i]! === outShape[i]; i--) index[i] = 0;
  }
  return out;
}

/**
 * A constant prepared to broadcast against tensors of `rank` held in `perm` layout: TF aligns trailing axes, so the
 * constant gets leading 1s up to `rank`, then its data moves into the layout's order.
 */
export function constantFor(graph: GraphBuilder, c: Constant, rank: number, perm: number[]): string {
  if (c.shape.length > rank) throw new Error(`constant ${c.name} of shape [${c.shape}] has more axes than ${rank}`);
  if (c.shape.length === 0) return graph.addFloatInitializer(c.name, c.data, []);
  const full = [...new Array<number>(rank - c.shape.length).fill(1), ...c.shape];
  const shape = perm.map((p) => full[p]!);
  return graph.addFloatInitializer(c.name, transposeData(c.data, full, perm), shape);
}

/** A tensor of lower rank made broadcastable against `rank`-D tensors in `perm` layout (leading axes added). */
export function tensorFor(graph: GraphBuilder, t: Tensor, rank: number, perm: number[]): string {
  if (t.shape.length === rank) return toPerm(graph, t, perm).name;
  const added = identityPerm(rank - t.shape.length);
  const axes = graph.addInt64Initializer(`${t.name}/unsqueeze_axes`, added);
  const name = graph.addNode('Unsqueeze', [toPlain(graph, t).name, axes], `${t.name}/unsqueeze`);
  const full: Tensor = {
    kind: 'tensor',
    name,
    shape: [...added.map(() => 1), ...t.shape],
    perm: identityPerm(rank),
  };
  return toPerm(graph, full, perm).name;
}

/** A runtime tensor for any operand: constants become initializers in TF order. */
export function asTensor(graph: GraphBuilder, operand: Operand): Tensor {
  if (operand.kind === 'tensor') return operand;
  const name = graph.addFloatInitializer(operand.name, operand.data, operand.shape);
  return { kind: 'tensor', name, shape: operand.shape, perm: identityPerm(operand.shape.length) };
}
