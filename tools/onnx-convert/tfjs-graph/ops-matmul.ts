/**
 * MatMul and _FusedMatMul (bias + activation) on rank-2 operands as ONNX Gemm, which takes both transposes and
 * the bias in one node.
 */
import { attrInt } from '../graph-builder.ts';
import { applyActivation, readFusedTail } from './activations.ts';
import type { Tensor } from './layout.ts';
import { fail, tensorInput } from './op-context.ts';
import type { OpContext, OpConverter } from './op-context.ts';

function matMul(ctx: OpContext, fused: boolean): Tensor {
  ctx.attrs.requireFloat();
  const [a, b] = [tensorInput(ctx, 0), tensorInput(ctx, 1)];
  if (a.shape.length !== 2 || b.shape.length !== 2)
    throw fail(ctx, `operands [${a.shape}] and [${b.shape}] must both be matrices`);
  const transA = ctx.attrs.bool('transpose_a', false);
  const transB = ctx.attrs.bool('transpose_b', false);
  const [rows, inner] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [innerB, cols] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (inner >= 0 && innerB >= 0 && inner !== innerB) throw fail(ctx, `inner sizes differ: [${a.shape}] × [${b.shape}]`);
  const tail = fused ? readFusedTail(ctx, 2) : { options: {} };
  const inputs = [a.name, b.name];
  if (tail.bias) {
    if (tail.bias.data.length !== cols) throw fail(ctx, `bias has ${tail.bias.data.length} values for ${cols} columns`);
    inputs.push(ctx.graph.addFloatInitializer(`${ctx.node.name}/bias`, tail.bias.data, [cols]));
  }
  const name = ctx.graph.addNode('Gemm', inputs, ctx.node.name, {
    transA: attrInt(transA ? 1 : 0),
    transB: attrInt(transB ? 1 : 0),
  });
  const out: Tensor = { kind: 'tensor', name, shape: [rows, cols], perm: [0, 1] };
  return tail.activation ? applyActivation(ctx.graph, out, tail.activation, ctx.node.name, tail.options) : out;
}

export const MATMUL_OPS: Record<string, OpConverter> = {
  MatMul: (ctx) => matMul(ctx, false),
  _FusedMatMul: (ctx) => matMul(ctx, true),
};
