/**
 * Keras activation functions (by serialised name) as ONNX nodes, shared by the Activation layer and by the
 * `activation` option of Conv2D, Dense and friends.
 */
import { attrFloat, attrInt } from './graph-builder.ts';
import type { GraphBuilder } from './graph-builder.ts';
import { isSpatial } from './spatial.ts';
import type { TensorValue } from './types.ts';

/** Clip(x, min, max); opset ≥ 11 takes the bounds as inputs rather than attributes. */
export function clip(graph: GraphBuilder, input: string, min: number, max: number, base: string): string {
  return graph.addNode(
    'Clip',
    [input, graph.addScalar(`${base}/clip_min`, min), graph.addScalar(`${base}/clip_max`, max)],
    base,
  );
}

/** Softmax over the channel axis, which is ONNX axis 1 for NCHW spatial tensors and the last axis otherwise. */
function softmax(graph: GraphBuilder, input: TensorValue, base: string): string {
  return graph.addNode('Softmax', [input.name], base, { axis: attrInt(isSpatial(input) ? 1 : -1) });
}

type ActivationEmitter = (graph: GraphBuilder, input: TensorValue, base: string) => string;

const ACTIVATIONS: Record<string, ActivationEmitter> = {
  linear: (_g, x) => x.name,
  relu: (g, x, base) => g.addNode('Relu', [x.name], base),
  relu6: (g, x, base) => clip(g, x.name, 0, 6, base),
  sigmoid: (g, x, base) => g.addNode('Sigmoid', [x.name], base),
  tanh: (g, x, base) => g.addNode('Tanh', [x.name], base),
  softmax: (g, x, base) => softmax(g, x, base),
  elu: (g, x, base) => g.addNode('Elu', [x.name], base, { alpha: attrFloat(1) }),
  // ONNX's default Selu constants are the Keras ones (to float32 precision).
  selu: (g, x, base) => g.addNode('Selu', [x.name], base),
  softplus: (g, x, base) => g.addNode('Softplus', [x.name], base),
  softsign: (g, x, base) => g.addNode('Softsign', [x.name], base),
  // Keras hard_sigmoid is clip(0.2x + 0.5, 0, 1), the ONNX default alpha/beta.
  hard_sigmoid: (g, x, base) =>
    g.addNode('HardSigmoid', [x.name], base, { alpha: attrFloat(0.2), beta: attrFloat(0.5) }),
  swish: (g, x, base) => g.addNode('Mul', [x.name, g.addNode('Sigmoid', [x.name], `${base}/sigmoid`)], base),
  mish: (g, x, base) =>
    g.addNode(
      'Mul',
      [x.name, g.addNode('Tanh', [g.addNode('Softplus', [x.name], `${base}/softplus`)], `${base}/tanh`)],
      base,
    ),
};

/** TF.js serialises some names in camelCase (hardSigmoid); normalise to the Keras snake_case spelling. */
function normalise(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function isSupportedActivation(name: string): boolean {
  return normalise(name) in ACTIVATIONS;
}

/** Applies the activation and returns the new value (the same value for `linear`). Throws for unknown names. */
export function applyActivation(graph: GraphBuilder, input: TensorValue, name: string, base: string): TensorValue {
  const emit = ACTIVATIONS[normalise(name)];
  if (!emit) throw new Error(`activation "${name}" is not supported`);
  return { name: emit(graph, input, `${base}/${normalise(name)}`), shape: input.shape };
}
