/**
 * Exact float rewrite before quantization: a zero constant Pad of the spatial axes that feeds only a Conv becomes
 * the Conv's own `pads`. QLinearConv pads with the input's zero point, i.e. the real value 0, so the padding stays
 * in the int8 domain instead of a Pad between a DequantizeLinear and a QuantizeLinear that ONNX Runtime cannot fuse.
 */
import {
  type GraphNode,
  type OnnxModel,
  intsAttribute,
  makeIntsAttribute,
  stringAttribute,
  attribute,
} from './onnx-model.ts';

/** The Pad's begin/end amounts per axis, when they come from an int64 initializer (opset ≥ 11) or the attribute. */
function padAmounts(model: OnnxModel, pad: GraphNode): number[] | undefined {
  const fromInput = pad.inputs[1] ? model.initializers.get(pad.inputs[1]) : undefined;
  if (pad.inputs[1] && !fromInput) return undefined;
  if (fromInput) return Array.from(fromInput.data as BigInt64Array, Number);
  return intsAttribute(pad, 'pads');
}

function padsWithZero(model: OnnxModel, pad: GraphNode): boolean {
  if (stringAttribute(pad, 'mode', 'constant') !== 'constant') return false;
  const valueName = pad.inputs[2];
  if (valueName) {
    const value = model.floatInitializer(valueName);
    return value !== undefined && value.data.length === 1 && value.data[0] === 0;
  }
  const attr = attribute(pad, 'value');
  return !attr?.f;
}

/** Folds every foldable Pad into its Conv; returns how many were folded. */
export function foldPadsIntoConvs(model: OnnxModel): number {
  const consumers = model.consumers();
  const folded = new Set<GraphNode>();
  for (const pad of model.nodes) {
    if (pad.opType !== 'Pad' || pad.domain !== '' || model.isGraphOutput(pad.outputs[0]!)) continue;
    const readers = consumers.get(pad.outputs[0]!) ?? [];
    const conv = readers[0];
    if (readers.length !== 1 || conv?.opType !== 'Conv' || conv.inputs[0] !== pad.outputs[0]) continue;
    if (stringAttribute(conv, 'auto_pad', 'NOTSET') !== 'NOTSET' || !padsWithZero(model, pad)) continue;
    const amounts = padAmounts(model, pad);
    if (!amounts || amounts.length % 2 !== 0 || amounts.some((a) => a < 0)) continue;
    const rank = amounts.length / 2;
    // Batch and channel axes must be untouched: Conv pads only the spatial ones.
    if (rank < 3 || amounts[0] !== 0 || amounts[1] !== 0 || amounts[rank] !== 0 || amounts[rank + 1] !== 0) continue;
    const spatial = rank - 2;
    const convPads = intsAttribute(conv, 'pads') ?? new Array<number>(2 * spatial).fill(0);
    const merged = convPads.map((p, i) => p + (i < spatial ? amounts[2 + i]! : amounts[rank + 2 + i - spatial]!));
    conv.attributes = [...conv.attributes.filter((a) => a.name !== 'pads'), makeIntsAttribute('pads', merged)];
    conv.inputs[0] = pad.inputs[0]!;
    folded.add(pad);
  }
  model.nodes = model.nodes.filter((n) => !folded.has(n));
  model.pruneInitializers();
  return folded.size;
}
