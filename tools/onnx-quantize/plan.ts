/**
 * Which nodes run in uint8 and where the QuantizeLinear / DequantizeLinear nodes go, chosen so that ONNX Runtime
 * fuses every group (QLinearConv, QGemm, QLinearMatMul, QLinearAdd/Mul, QLinearAveragePool, QLinearConcat) and
 * data-movement ops run on uint8 directly:
 *
 * - Conv, Gemm and MatMul with constant weights are quantized, and Add, Mul, pools and Concat whose readers take
 *   uint8; every output but a Gemm's or MatMul's is quantized too, since ORT fuses those only with a
 *   QuantizeLinear after them; a Gemm or MatMul whose readers all take uint8 quantizes its output, else it writes
 *   float (QGemm's float output);
 * - a Relu or Clip right after a quantized output is removed: the output's range becomes the activation's
 *   calibrated output range, and quantizing to it clamps exactly as the activation did (uint8 zero point 0);
 * - data-movement ops (Transpose, Reshape, Flatten, MaxPool, ...) on a uint8 input run on uint8 with the same
 *   scale and zero point, when their readers take uint8;
 * - a float tensor read by a quantized op is quantized once where it is produced (the graph input, typically).
 *
 * Everything else stays float and reads dequantized values.
 */
import { MAX_EXHAUSTIVE_TAPS } from './adaptive-rounding.ts';
import {
  type GraphNode,
  type OnnxModel,
  DataType,
  floatAttribute,
  intAttribute,
  intsAttribute,
  attribute,
  stringAttribute,
} from './onnx-model.ts';
import { type ConvGeometry, convGeometry } from './patch-moments.ts';

export type ComputeKind = 'conv' | 'gemm' | 'matmul' | 'binary' | 'pool' | 'concat';

const PASSTHROUGH = new Set([
  'Transpose',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'MaxPool',
  'Slice',
  'Expand',
  'Tile',
  'Gather',
]);
const POOLS = new Set(['AveragePool', 'GlobalAveragePool']);

/** Where a quantized tensor's scale and zero point come from. */
export type ParamSource = { kind: 'range' } | { kind: 'inherit'; from: string };

export interface QTensor {
  params: ParamSource;
  /** Its producer runs quantized (or it is a graph input): every reader reads it through a DequantizeLinear. */
  owned: boolean;
}

export interface QuantPlan {
  /** Compute nodes that run quantized, with their kind. */
  compute: Map<GraphNode, ComputeKind>;
  /** Data-movement nodes that run on uint8. */
  passthrough: Set<GraphNode>;
  /** Every tensor given a QuantizeLinear, in graph order. */
  tensors: Map<string, QTensor>;
  /** Activation outputs whose ranges the calibration must measure. */
  rangeTensors: string[];
  /** Relu/Clip nodes folded into their producer's output range. */
  foldedActivations: number;
  /** Depthwise convolutions whose kernels are rounded adaptively: the input each reads, and its geometry. */
  rounding: Map<GraphNode, { input: string; geometry: ConvGeometry }>;
}

function isFloatWeight(model: OnnxModel, name: string | undefined, rank: number[]): boolean {
  const init = name ? model.floatInitializer(name) : undefined;
  return init !== undefined && rank.includes(init.dims.length);
}

export function computeKind(model: OnnxModel, node: GraphNode): ComputeKind | undefined {
  if (node.domain !== '') return undefined;
  const [, w, bias] = node.inputs;
  const optionalBias = !bias || isFloatWeight(model, bias, [1, 2]);
  switch (node.opType) {
    case 'Conv':
      return isFloatWeight(model, w, [3, 4, 5]) && optionalBias ? 'conv' : undefined;
    case 'Gemm':
      return isFloatWeight(model, w, [2]) &&
        optionalBias &&
        intAttribute(node, 'transA', 0) === 0 &&
        floatAttribute(node, 'alpha', 1) === 1 &&
        floatAttribute(node, 'beta', 1) === 1
        ? 'gemm'
        : undefined;
    case 'MatMul':
      return isFloatWeight(model, w, [2]) ? 'matmul' : undefined;
    case 'Add':
    case 'Mul':
      return node.inputs.length === 2 ? 'binary' : undefined;
    case 'Concat':
      return 'concat';
    default:
      return POOLS.has(node.opType) ? 'pool' : undefined;
  }
}

/** Clip/Relu bounds when constant; undefined for any other node. */
export function activationBounds(model: OnnxModel, node: GraphNode): { lo: number; hi: number } | undefined {
  if (node.domain !== '') return undefined;
  if (node.opType === 'Relu') return { lo: 0, hi: Infinity };
  if (node.opType !== 'Clip') return undefined;
  const bound = (i: number, fallback: number) => {
    const name = node.inputs[i];
    if (!name) return fallback;
    const init = model.floatInitializer(name);
    return init && init.data.length === 1 ? (init.data[0] as number) : undefined;
  };
  const lo = model.opset < 11 ? floatAttribute(node, 'min', -Infinity) : bound(1, -Infinity);
  const hi = model.opset < 11 ? floatAttribute(node, 'max', Infinity) : bound(2, Infinity);
  // Only a lower bound at or below 0 is reproduced by quantizing (the range always holds 0).
  return lo !== undefined && hi !== undefined && lo <= 0 && hi > 0 ? { lo, hi } : undefined;
}

class Planner {
  private producers: Map<string, GraphNode>;
  private consumers: Map<string, GraphNode[]>;
  private readonly kinds = new Map<GraphNode, ComputeKind | undefined>();
  private readonly acceptMemo = new Map<string, boolean>();

  constructor(
    private readonly model: OnnxModel,
    keepFloat: (node: GraphNode) => boolean,
  ) {
    this.producers = model.producers();
    this.consumers = model.consumers();
    // Last node first, so each node's readers are decided before it: an element-wise op, pool or Concat is worth
    // running in uint8 only when its readers take uint8 (else it costs a QuantizeLinear and a DequantizeLinear).
    for (const n of [...model.nodes].reverse()) {
      const kind = keepFloat(n) ? undefined : computeKind(model, n);
      const cheap = kind === 'binary' || kind === 'pool' || kind === 'concat';
      this.kinds.set(n, cheap && !this.allAccept(n.outputs[0]!) ? undefined : kind);
    }
    this.acceptMemo.clear();
  }

  private readers(tensor: string): GraphNode[] {
    return this.consumers.get(tensor) ?? [];
  }

  /** Whether every reader of the tensor takes it as uint8 (so quantizing it leaves no lone DequantizeLinear). */
  allAccept(tensor: string): boolean {
    const memo = this.acceptMemo.get(tensor);
    if (memo !== undefined) return memo;
    const readers = this.readers(tensor);
    const result =
      !this.model.isGraphOutput(tensor) &&
      readers.length > 0 &&
      readers.every((r) => {
        if (this.kinds.get(r)) return true;
        if (PASSTHROUGH.has(r.opType) && r.inputs[0] === tensor && r.domain === '')
          return this.allAccept(r.outputs[0]!);
        return activationBounds(this.model, r) !== undefined && this.allAccept(r.outputs[0]!);
      });
    this.acceptMemo.set(tensor, result);
    return result;
  }

  quantizesOutput(node: GraphNode): boolean {
    const kind = this.kinds.get(node);
    if (!kind) return false;
    return kind === 'gemm' || kind === 'matmul' ? this.allAccept(node.outputs[0]!) : true;
  }

  /** Removes each Relu/Clip whose input is a quantized output read by it alone; returns how many. */
  foldActivations(): number {
    const removed = new Set<GraphNode>();
    for (const act of this.model.nodes) {
      const input = act.inputs[0];
      if (!input || !activationBounds(this.model, act)) continue;
      const producer = this.producers.get(input);
      if (!producer || removed.has(producer) || !this.quantizesOutput(producer)) continue;
      if (this.readers(input).length !== 1 || this.model.isGraphOutput(input)) continue;
      producer.outputs[producer.outputs.indexOf(input)] = act.outputs[0]!;
      this.producers.set(act.outputs[0]!, producer);
      removed.add(act);
    }
    this.model.nodes = this.model.nodes.filter((n) => !removed.has(n));
    this.model.pruneInitializers();
    this.producers = this.model.producers();
    this.consumers = this.model.consumers();
    this.acceptMemo.clear();
    return removed.size;
  }

  plan(foldedActivations: number): QuantPlan {
    const compute = new Map<GraphNode, ComputeKind>();
    const passthrough = new Set<GraphNode>();
    const tensors = new Map<string, QTensor>();
    for (const input of this.model.inputs) {
      const name = input.name ?? '';
      if (input.type?.tensorType?.elemType === DataType.FLOAT && this.allAccept(name))
        tensors.set(name, { params: { kind: 'range' }, owned: true });
    }
    for (const node of this.model.nodes) {
      const kind = this.kinds.get(node);
      const out = node.outputs[0]!;
      if (kind) {
        compute.set(node, kind);
        for (const input of this.activationInputs(node, kind))
          if (!tensors.has(input)) tensors.set(input, { params: { kind: 'range' }, owned: false });
        if (this.quantizesOutput(node)) tensors.set(out, { params: { kind: 'range' }, owned: true });
      } else if (PASSTHROUGH.has(node.opType) && node.domain === '') {
        const input = node.inputs[0]!;
        if (tensors.get(input)?.owned && this.allAccept(out)) {
          passthrough.add(node);
          tensors.set(out, { params: { kind: 'inherit', from: input }, owned: true });
        }
      }
    }
    const rangeTensors = [...tensors].filter(([, t]) => t.params.kind === 'range').map(([name]) => name);
    const rounding = new Map<GraphNode, { input: string; geometry: ConvGeometry }>();
    for (const [node, kind] of compute) {
      const geometry = kind === 'conv' ? this.depthwiseGeometry(node) : undefined;
      if (geometry) rounding.set(node, { input: node.inputs[0]!, geometry });
    }
    return { compute, passthrough, tensors, rangeTensors, foldedActivations, rounding };
  }

  /** A Conv with one input channel per group and a kernel small enough to round exhaustively. */
  private depthwiseGeometry(node: GraphNode): ConvGeometry | undefined {
    const dims = this.model.floatInitializer(node.inputs[1]!)!.dims;
    if (dims[1] !== 1 || dims.slice(1).reduce((a, b) => a * b, 1) > MAX_EXHAUSTIVE_TAPS) return undefined;
    if (attribute(node, 'auto_pad') && stringAttribute(node, 'auto_pad', 'NOTSET') !== 'NOTSET') return undefined;
    return convGeometry(
      {
        pads: intsAttribute(node, 'pads'),
        strides: intsAttribute(node, 'strides'),
        dilations: intsAttribute(node, 'dilations'),
      },
      dims,
    );
  }

  /** The inputs of a compute node that are activations (not constant initializers). */
  activationInputs(node: GraphNode, kind: ComputeKind): string[] {
    const inputs = kind === 'conv' || kind === 'gemm' || kind === 'matmul' ? node.inputs.slice(0, 1) : node.inputs;
    return inputs.filter((i) => i !== '' && !this.model.initializers.has(i));
  }
}

/** Folds activations (mutating the model) and plans the quantization of what remains. */
export function planQuantization(model: OnnxModel, keepFloat: (node: GraphNode) => boolean = () => false): QuantPlan {
  // One planner for both steps: which nodes stay float is decided once, before folding renames outputs.
  const planner = new Planner(model, keepFloat);
  return planner.plan(planner.foldActivations());
}
