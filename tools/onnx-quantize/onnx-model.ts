/**
 * A mutable view of an ONNX model for graph rewrites: nodes as plain objects, initializers as typed arrays, every
 * other field of the ModelProto (opsets, metadata, value infos) carried through unchanged on encode.
 */
import onnxPkg from 'onnx-proto';

const { onnx } = onnxPkg;

type AttributeProto = onnxPkg.onnx.IAttributeProto;
type ValueInfoProto = onnxPkg.onnx.IValueInfoProto;
type ModelProto = onnxPkg.onnx.IModelProto;

export const DataType = onnx.TensorProto.DataType;

export type TensorValues = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  data: TensorValues;
}

export interface GraphNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: AttributeProto[];
}

/** protobufjs decodes int64 fields as Long objects unless they fit a number. */
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  const long = value as { toNumber?: () => number };
  if (long && typeof long.toNumber === 'function') return long.toNumber();
  return Number(value);
}

const ARRAY_OF: Record<number, (buf: ArrayBuffer) => TensorValues> = {
  [DataType.FLOAT]: (b) => new Float32Array(b),
  [DataType.INT8]: (b) => new Int8Array(b),
  [DataType.UINT8]: (b) => new Uint8Array(b),
  [DataType.INT32]: (b) => new Int32Array(b),
  [DataType.INT64]: (b) => new BigInt64Array(b),
};

function readTensor(t: onnxPkg.onnx.ITensorProto): Initializer {
  const name = t.name ?? '';
  const dims = (t.dims ?? []).map(toNumber);
  const dataType = t.dataType ?? 0;
  const make = ARRAY_OF[dataType];
  if (!make) throw new Error(`initializer ${name}: data type ${DataType[dataType] ?? dataType} is not supported`);
  if ((t.dataLocation ?? 0) !== 0) throw new Error(`initializer ${name}: external data is not supported`);
  let data: TensorValues;
  // A copy: protobufjs hands out Buffer views into the whole file, unaligned and shared.
  if (t.rawData && t.rawData.length > 0) data = make(new Uint8Array(t.rawData).buffer);
  else if (dataType === DataType.FLOAT) data = Float32Array.from(t.floatData ?? []);
  else if (dataType === DataType.INT64) data = BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(toNumber(v))));
  else if (dataType === DataType.INT32) data = Int32Array.from(t.int32Data ?? []);
  else if (dataType === DataType.INT8) data = Int8Array.from(t.int32Data ?? []);
  else data = Uint8Array.from(t.int32Data ?? []);
  return { name, dims, dataType, data };
}

function writeTensor(t: Initializer): InstanceType<typeof onnx.TensorProto> {
  return onnx.TensorProto.create({
    name: t.name,
    dims: t.dims,
    dataType: t.dataType,
    rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  });
}

export function attribute(node: GraphNode, name: string): AttributeProto | undefined {
  return node.attributes.find((a) => a.name === name);
}

export function intAttribute(node: GraphNode, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.i !== undefined && a.i !== null ? toNumber(a.i) : fallback;
}

export function intsAttribute(node: GraphNode, name: string): number[] | undefined {
  return attribute(node, name)?.ints?.map(toNumber);
}

export function floatAttribute(node: GraphNode, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.f !== undefined && a.f !== null ? a.f : fallback;
}

export function stringAttribute(node: GraphNode, name: string, fallback: string): string {
  const s = attribute(node, name)?.s;
  return s && s.length > 0 ? new TextDecoder().decode(s) : fallback;
}

export function makeIntAttribute(name: string, value: number): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
}

export function makeIntsAttribute(name: string, value: number[]): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: value });
}

/** A graph output of any float tensor: ONNX Runtime needs only the element type to return it. */
export function floatValueInfo(name: string): ValueInfoProto {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DataType.FLOAT } } });
}

export class OnnxModel {
  nodes: GraphNode[];
  readonly initializers: Map<string, Initializer>;
  readonly inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  private readonly usedNames = new Set<string>();

  private constructor(private readonly proto: ModelProto) {
    const graph = proto.graph;
    if (!graph) throw new Error('the ONNX file holds no graph');
    this.nodes = (graph.node ?? []).map((n, i) => ({
      name: n.name || `node_${i}`,
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attributes: [...(n.attribute ?? [])],
    }));
    this.initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', readTensor(t)]));
    const initNames = this.initializers;
    this.inputs = (graph.input ?? []).filter((v) => !initNames.has(v.name ?? ''));
    this.outputs = [...(graph.output ?? [])];
    for (const n of this.nodes) for (const v of [n.name, ...n.inputs, ...n.outputs]) this.usedNames.add(v);
    for (const v of [...this.initializers.keys(), ...this.inputs.map((i) => i.name ?? '')]) this.usedNames.add(v);
  }

  static decode(bytes: Uint8Array): OnnxModel {
    return new OnnxModel(onnx.ModelProto.decode(bytes));
  }

  /** The version of the default ("ai.onnx") operator set the model declares. */
  get opset(): number {
    const entry = (this.proto.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
    return entry ? toNumber(entry.version) : 0;
  }

  get graphName(): string {
    return this.proto.graph?.name ?? 'graph';
  }

  /** A value or node name not used yet (ONNX names are SSA). */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  addInitializer(base: string, dataType: number, dims: number[], data: TensorValues): string {
    const name = this.uniqueName(base);
    this.initializers.set(name, { name, dims, dataType, data });
    return name;
  }

  /** A float initializer's values, or undefined when the name is not a float initializer. */
  floatInitializer(name: string): Initializer | undefined {
    const init = this.initializers.get(name);
    return init?.dataType === DataType.FLOAT ? init : undefined;
  }

  /** The node producing each value (graph inputs and initializers have none). */
  producers(): Map<string, GraphNode> {
    return new Map(this.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  }

  /** The nodes reading each value, in graph order. */
  consumers(): Map<string, GraphNode[]> {
    const map = new Map<string, GraphNode[]>();
    for (const n of this.nodes)
      for (const i of n.inputs) {
        if (!i) continue;
        const list = map.get(i) ?? [];
        if (!list.includes(n)) list.push(n);
        map.set(i, list);
      }
    return map;
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.some((o) => o.name === name);
  }

  /** Drops initializers no node reads any more (folded pads, replaced float weights). */
  pruneInitializers(): void {
    const read = new Set(this.nodes.flatMap((n) => n.inputs));
    for (const name of [...this.initializers.keys()]) if (!read.has(name)) this.initializers.delete(name);
  }

  encode(producer?: string): Uint8Array {
    const graph = onnx.GraphProto.create({
      ...this.proto.graph,
      node: this.nodes.map((n) =>
        onnx.NodeProto.create({
          name: n.name,
          opType: n.opType,
          domain: n.domain,
          input: n.inputs,
          output: n.outputs,
          attribute: n.attributes,
        }),
      ),
      initializer: [...this.initializers.values()].map(writeTensor),
      input: this.inputs,
      output: this.outputs,
      // Shapes recorded for the float graph may no longer hold (e.g. a folded Pad's output): ORT infers them again.
      valueInfo: [],
    });
    const model = onnx.ModelProto.create({ ...this.proto, graph });
    if (producer) model.producerName = producer;
    return onnx.ModelProto.encode(model).finish();
  }
}
