/**
 * Writes a quantization plan into the model as QDQ: one QuantizeLinear per quantized tensor right after its
 * producer, one DequantizeLinear per reader right before it (ONNX Runtime fuses a group only when each of its
 * DequantizeLinear nodes is its own), int8 per-channel weights and int32 biases behind DequantizeLinear nodes.
 */
import { type GraphNode, type OnnxModel, DataType, intAttribute, makeIntAttribute } from './onnx-model.ts';
import type { ComputeKind, QuantPlan } from './plan.ts';
import {
  type ChannelQuantized,
  type QParams,
  quantizeBias,
  quantizePerChannel,
  quantizeUint8,
  uint8Params,
  weightShift,
} from './quant-math.ts';
import type { Range } from './range-methods.ts';
import { roundDepthwise } from './adaptive-rounding.ts';
import { channelMoments, type PatchMoments } from './patch-moments.ts';

export interface EmitOptions {
  /** 7-bit weights (see quantizePerChannel). */
  reduceRange: boolean;
  /** Calibrated channel means of the inputs of Conv/Gemm/MatMul nodes: given, their biases are corrected. */
  channelMeans?: ReadonlyMap<string, Float64Array> | undefined;
  /** Patch moments of the plan's depthwise convolutions, by node name: given, their kernels are rounded adaptively. */
  kernelMoments?: ReadonlyMap<string, PatchMoments> | undefined;
}

interface QNames {
  quantized: string;
  scale: string;
  zeroPoint: string;
}

class QdqWriter {
  private readonly params = new Map<string, QParams>();
  private readonly qNames = new Map<string, QNames>();
  private readonly out: GraphNode[] = [];

  constructor(
    private readonly model: OnnxModel,
    private readonly plan: QuantPlan,
    ranges: ReadonlyMap<string, Range>,
    private readonly options: EmitOptions,
  ) {
    for (const [name, t] of plan.tensors) {
      if (t.params.kind === 'inherit') this.params.set(name, this.params.get(t.params.from)!);
      else {
        const range = ranges.get(name);
        if (!range) throw new Error(`no calibrated range for tensor ${name}`);
        this.params.set(name, uint8Params(range));
      }
    }
  }

  private node(opType: string, inputs: string[], output: string, attributes: GraphNode['attributes'] = []): string {
    const name = this.model.uniqueName(`${output}/${opType}`);
    this.out.push({ name, opType, domain: '', inputs, outputs: [output], attributes });
    return output;
  }

  private scalar(base: string, p: QParams): { scale: string; zeroPoint: string } {
    return {
      scale: this.model.addInitializer(`${base}_scale`, DataType.FLOAT, [], Float32Array.of(p.scale)),
      zeroPoint: this.model.addInitializer(`${base}_zero_point`, DataType.UINT8, [], Uint8Array.of(p.zeroPoint)),
    };
  }

  /** The QuantizeLinear of a planned tensor; an owned tensor's producer now writes a private float name. */
  private quantize(tensor: string, producer: GraphNode | undefined): void {
    const p = this.params.get(tensor)!;
    let source = tensor;
    if (producer && this.plan.tensors.get(tensor)!.owned) {
      source = this.model.uniqueName(`${tensor}_float`);
      producer.outputs[producer.outputs.indexOf(tensor)] = source;
    }
    const { scale, zeroPoint } = this.scalar(tensor, p);
    const quantized = this.node(
      'QuantizeLinear',
      [source, scale, zeroPoint],
      this.model.uniqueName(`${tensor}_quantized`),
    );
    this.qNames.set(tensor, { quantized, scale, zeroPoint });
    // A quantized graph output is given back in float under its own name.
    if (producer && this.model.isGraphOutput(tensor))
      this.node('DequantizeLinear', [quantized, scale, zeroPoint], tensor);
  }

  private dequantize(tensor: string): string {
    const q = this.qNames.get(tensor)!;
    return this.node(
      'DequantizeLinear',
      [q.quantized, q.scale, q.zeroPoint],
      this.model.uniqueName(`${tensor}_dequantized`),
    );
  }

  /** A constant int8 weight per channel along `axis`, behind its DequantizeLinear; returns the scales too. */
  private weight(node: GraphNode, axis: number): { output: string } & ChannelQuantized {
    const name = node.inputs[1]!;
    const w = this.model.floatInitializer(name)!;
    const qmax = this.options.reduceRange ? 63 : 127;
    let { values, scales } = quantizePerChannel(w.data as Float32Array, w.dims, axis, qmax);
    const moments = this.options.kernelMoments?.get(node.name);
    if (moments && this.plan.rounding.has(node)) {
      const inputs = moments.sums.length / (moments.taps * moments.taps);
      values = roundDepthwise(w.data as Float32Array, w.dims, scales, (c) => channelMoments(moments, c), inputs, qmax);
    }
    const q = this.model.addInitializer(`${name}_quantized`, DataType.INT8, w.dims, values);
    const s = this.model.addInitializer(`${name}_scale`, DataType.FLOAT, [scales.length], scales);
    const z = this.model.addInitializer(
      `${name}_zero_point`,
      DataType.INT8,
      [scales.length],
      new Int8Array(scales.length),
    );
    const output = this.node('DequantizeLinear', [q, s, z], this.model.uniqueName(`${name}_dequantized`), [
      makeIntAttribute('axis', axis),
    ]);
    return { output, values, scales };
  }

  /** The float bias (zeros when absent), one value per output channel, minus the rounding shift when corrected. */
  private floatBias(node: GraphNode, channels: number, shift: Float64Array | undefined): Float32Array {
    const init = node.inputs[2] ? this.model.floatInitializer(node.inputs[2]) : undefined;
    let data = new Float32Array(channels);
    if (init) {
      const values = init.data as Float32Array;
      if (values.length !== 1 && values.length !== channels)
        throw new Error(`bias of ${node.name}: ${values.length} values for ${channels} output channels`);
      data = values.length === 1 ? data.fill(values[0]!) : Float32Array.from(values);
    }
    if (shift) for (let c = 0; c < channels; c++) data[c] = data[c]! - shift[c]!;
    return data;
  }

  private bias(name: string, data: Float32Array, inputScale: number, weightScales: Float32Array): string {
    const { values, scales } = quantizeBias(data, inputScale, weightScales);
    const q = this.model.addInitializer(`${name}_quantized`, DataType.INT32, [values.length], values);
    const s = this.model.addInitializer(`${name}_scale`, DataType.FLOAT, [scales.length], scales);
    return this.node('DequantizeLinear', [q, s], this.model.uniqueName(`${name}_dequantized`), [
      makeIntAttribute('axis', 0),
    ]);
  }

  /** A constant activation operand (an Add's or Concat's initializer) as uint8 per tensor. */
  private constant(name: string): string {
    const c = this.model.floatInitializer(name);
    if (!c) return name;
    const values = c.data as Float32Array;
    let [min, max] = [0, 0];
    for (const v of values) [min, max] = [Math.min(min, v), Math.max(max, v)];
    const p = uint8Params({ min, max });
    const q = this.model.addInitializer(`${name}_quantized`, DataType.UINT8, c.dims, quantizeUint8(values, p));
    const { scale, zeroPoint } = this.scalar(name, p);
    return this.node('DequantizeLinear', [q, scale, zeroPoint], this.model.uniqueName(`${name}_dequantized`));
  }

  private rewriteCompute(node: GraphNode, kind: ComputeKind): void {
    if (kind === 'conv' || kind === 'gemm' || kind === 'matmul') {
      const input = node.inputs[0]!;
      const { dims, data } = this.model.floatInitializer(node.inputs[1]!)!;
      const transposed = kind === 'gemm' && intAttribute(node, 'transB', 0) === 1;
      // Output channels: axis 0 of a Conv kernel, the columns of a Gemm/MatMul B (rows when Gemm transposes B).
      const axis = kind === 'conv' || transposed ? 0 : 1;
      node.inputs[0] = this.dequantize(input);
      const w = this.weight(node, axis);
      node.inputs[1] = w.output;
      const means = this.options.channelMeans?.get(input);
      const layout =
        kind === 'conv' ? { kind, group: intAttribute(node, 'group', 1) } : { kind: 'matrix' as const, transposed };
      const shift = means && weightShift(data as Float32Array, w, dims, means, layout);
      // MatMul has no bias input: its correction would need an Add, and it stays uncorrected.
      if (kind !== 'matmul' && (node.inputs[2] || shift))
        node.inputs[2] = this.bias(
          node.inputs[2] || `${node.name}/bias`,
          this.floatBias(node, w.scales.length, shift),
          this.params.get(input)!.scale,
          w.scales,
        );
      return;
    }
    node.inputs = node.inputs.map((i) => (this.qNames.has(i) ? this.dequantize(i) : this.constant(i)));
  }

  write(): void {
    const producers = this.model.producers();
    for (const input of this.model.inputs)
      if (this.plan.tensors.has(input.name ?? '')) this.quantize(input.name!, undefined);
    for (const node of this.model.nodes) {
      const kind = this.plan.compute.get(node);
      const quantized = kind !== undefined || this.plan.passthrough.has(node);
      if (kind) this.rewriteCompute(node, kind);
      else
        node.inputs = node.inputs.map((i) => {
          const t = this.plan.tensors.get(i);
          return t && (t.owned || quantized) ? this.dequantize(i) : i;
        });
      this.out.push(node);
      for (const output of node.outputs)
        if (this.plan.tensors.has(output)) this.quantize(output, producers.get(output));
    }
    this.model.nodes = this.out;
    this.model.pruneInitializers();
  }
}

/** Rewrites the (planned, activation-folded) float model into QDQ form in place. */
export function emitQdq(
  model: OnnxModel,
  plan: QuantPlan,
  ranges: ReadonlyMap<string, Range>,
  options: EmitOptions,
): void {
  new QdqWriter(model, plan, ranges, options).write();
}
