/**
 * What one op converter gets (the ONNX graph under construction, the TF node, its inputs) and the typed readers
 * for those inputs; every failure names the node and its op.
 */
import type { GraphBuilder } from '../graph-builder.ts';
import { GraphOpError, NodeAttrs } from './graph-model.ts';
import type { TfNode } from './graph-model.ts';
import { asTensor } from './layout.ts';
import type { Constant, Operand, Tensor } from './layout.ts';

export interface OpContext {
  graph: GraphBuilder;
  node: TfNode;
  attrs: NodeAttrs;
  inputs: Operand[];
}

export type OpConverter = (ctx: OpContext) => Tensor;

export function opContext(graph: GraphBuilder, node: TfNode, inputs: Operand[]): OpContext {
  return { graph, node, attrs: new NodeAttrs(node), inputs };
}

export function fail(ctx: OpContext, reason: string): GraphOpError {
  return new GraphOpError(ctx.node, reason);
}

function operand(ctx: OpContext, index: number): Operand {
  const input = ctx.inputs[index];
  if (!input) throw fail(ctx, `input ${index} is missing (the node has ${ctx.inputs.length})`);
  return input;
}

/** Input `index` as a runtime tensor (a constant becomes an initializer). */
export function tensorInput(ctx: OpContext, index: number): Tensor {
  return asTensor(ctx.graph, operand(ctx, index));
}

/** Input `index`, which must be a Const node: weights, axes, shapes and paddings are read at conversion time. */
export function constInput(ctx: OpContext, index: number, what: string): Constant {
  const input = operand(ctx, index);
  if (input.kind !== 'const') throw fail(ctx, `${what} (input ${index}) must be a constant`);
  return input;
}

/** A constant of integers (axes, shapes, paddings) as plain numbers. */
export function intsInput(ctx: OpContext, index: number, what: string): number[] {
  const values = Array.from(constInput(ctx, index, what).data);
  if (!values.every(Number.isInteger)) throw fail(ctx, `${what} must be integers, got [${values}]`);
  return values;
}

/** The static size of TF axis `axis` of `t`; convolutions and pools need their spatial sizes and channels known. */
export function staticDim(ctx: OpContext, t: Tensor, axis: number): number {
  const size = t.shape[axis];
  if (size === undefined || size < 0) throw fail(ctx, `dimension ${axis} of its input [${t.shape}] must be known`);
  return size;
}

/** Rejects the NCHW data format (the TF.js converter and its ops assume NHWC). */
export function requireNhwc(ctx: OpContext): void {
  const format = ctx.attrs.string('data_format', 'NHWC');
  if (format !== 'NHWC') throw fail(ctx, `data_format ${format} is not supported (NHWC only)`);
}
