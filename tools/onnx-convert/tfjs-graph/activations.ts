/**
 * Element-wise activations as ONNX nodes: the standalone TF ops (Relu, Relu6, Elu, ...) and the activation that
 * TF's grappler fuses into _FusedConv2D, FusedDepthwiseConv2dNative and _FusedMatMul.
 */
import { attrFloat } from '../graph-builder.ts';
import type { GraphBuilder } from '../graph-builder.ts';
import { clip } from '../activations.ts';
import { constantFor } from './layout.ts';
import type { Constant, Tensor } from './layout.ts';
import { constInput, fail } from './op-context.ts';
import type { OpContext } from './op-context.ts';

/** TF's default LeakyRelu slope (also TF.js's default `leakyrelu_alpha` for fused ops). */
export const LEAKY_RELU_ALPHA = 0.2;

export interface ActivationOptions {
  /** LeakyRelu's slope. */
  alpha?: number;
  /** Prelu's per-channel slopes. */
  prelu?: Constant;
}

type Emit = (graph: GraphBuilder, t: Tensor, base: string, opts: ActivationOptions) => string;

const EMITTERS: Record<string, Emit> = {
  relu: (g, t, base) => g.addNode('Relu', [t.name], base),
  relu6: (g, t, base) => clip(g, t.name, 0, 6, base),
  elu: (g, t, base) => g.addNode('Elu', [t.name], base, { alpha: attrFloat(1) }),
  selu: (g, t, base) => g.addNode('Selu', [t.name], base),
  leakyrelu: (g, t, base, o) =>
    g.addNode('LeakyRelu', [t.name], base, { alpha: attrFloat(o.alpha ?? LEAKY_RELU_ALPHA) }),
  sigmoid: (g, t, base) => g.addNode('Sigmoid', [t.name], base),
  tanh: (g, t, base) => g.addNode('Tanh', [t.name], base),
  softplus: (g, t, base) => g.addNode('Softplus', [t.name], base),
  prelu: (g, t, base, o) => {
    if (!o.prelu) throw new Error('prelu needs its slopes');
    return g.addNode('PRelu', [t.name, constantFor(g, o.prelu, t.shape.length, t.perm)], base);
  },
};

/** Activation names as TF.js reads them: lower case (`Relu6` → `relu6`, `LeakyRelu` → `leakyrelu`). */
export const isActivation = (name: string): boolean => name.toLowerCase() in EMITTERS;

export function applyActivation(
  graph: GraphBuilder,
  t: Tensor,
  name: string,
  base: string,
  opts: ActivationOptions = {},
): Tensor {
  const emit = EMITTERS[name.toLowerCase()];
  if (!emit) throw new Error(`activation "${name}" is not supported`);
  return { ...t, name: emit(graph, t, `${base}/${name.toLowerCase()}`, opts) };
}

/** What a fused op adds after its main computation: a bias and an activation. */
export interface FusedTail {
  bias?: Constant;
  activation?: string;
  options: ActivationOptions;
}

/**
 * Reads `fused_ops` and the extra arguments from input `firstArg` on, as TF.js does: [BiasAdd] or [BiasAdd, act],
 * bias first and Prelu slopes second. FusedBatchNorm is rejected as TF.js rejects it.
 */
export function readFusedTail(ctx: OpContext, firstArg: number): FusedTail {
  const [extra, activation, ...rest] = ctx.attrs.strings('fused_ops');
  if (rest.length) throw fail(ctx, `fused_ops [${ctx.attrs.strings('fused_ops')}] has more than two steps`);
  if (extra === undefined) return { options: {} };
  if (extra !== 'BiasAdd') throw fail(ctx, `fused op ${extra} is not supported (BiasAdd then an activation)`);
  if (activation !== undefined && !isActivation(activation))
    throw fail(ctx, `fused activation ${activation} is not supported`);
  const prelu = activation?.toLowerCase() === 'prelu';
  const numArgs = ctx.attrs.int('num_args', ctx.inputs.length - firstArg);
  if (numArgs !== (prelu ? 2 : 1))
    throw fail(ctx, `num_args is ${numArgs}; ${extra}+${activation} takes ${prelu ? 2 : 1}`);
  return {
    bias: constInput(ctx, firstArg, 'the bias'),
    activation,
    options: {
      alpha: ctx.attrs.float('leakyrelu_alpha', LEAKY_RELU_ALPHA),
      prelu: prelu ? constInput(ctx, firstArg + 1, 'the Prelu slopes') : undefined,
    },
  };
}
