/** The registry of TF graph op converters by op name. Const and Placeholder are read by the graph walker. */
import { GraphOpError } from './graph-model.ts';
import type { TfNode } from './graph-model.ts';
import type { OpConverter } from './op-context.ts';
import { CONV_OPS } from './ops-conv.ts';
import { ELEMENTWISE_OPS } from './ops-elementwise.ts';
import { MATMUL_OPS } from './ops-matmul.ts';
import { SHAPE_OPS } from './ops-shape.ts';

const REGISTRY: ReadonlyMap<string, OpConverter> = new Map(
  Object.entries({ ...CONV_OPS, ...ELEMENTWISE_OPS, ...MATMUL_OPS, ...SHAPE_OPS }),
);

export function supportedOps(): string[] {
  return ['Const', 'Placeholder', ...REGISTRY.keys()].sort();
}

export function opConverterFor(node: TfNode): OpConverter {
  const converter = REGISTRY.get(node.op);
  if (!converter) throw new GraphOpError(node, 'unsupported op');
  return converter;
}
