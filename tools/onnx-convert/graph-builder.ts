/**
 * Accumulates ONNX nodes, initializers and graph inputs/outputs, then writes a ModelProto through onnx-proto's
 * generated protobuf classes. Initializers stay as Float32Array until serialisation so BatchNorm folding can
 * rewrite conv weights in place.
 */
import onnxPkg from 'onnx-proto';

const { onnx } = onnxPkg;

export const OPSET_VERSION = 13;
/** IR version 7 (ONNX 1.8) is the first to carry opset 13. */
export const IR_VERSION = 7;

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string };

export const attrInt = (value: number): AttributeValue => ({ kind: 'int', value });
export const attrInts = (value: number[]): AttributeValue => ({ kind: 'ints', value });
export const attrFloat = (value: number): AttributeValue => ({ kind: 'float', value });
export const attrString = (value: string): AttributeValue => ({ kind: 'string', value });

export interface FloatInitializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

interface Int64Initializer {
  name: string;
  dims: number[];
  data: BigInt64Array;
}

/** One graph input or output: a float32 tensor whose dimensions are numbers or symbolic names (dynamic batch). */
export interface GraphValueSpec {
  name: string;
  dims: Array<number | string>;
}

interface NodeSpec {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

function toAttributeProto(name: string, attr: AttributeValue): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  switch (attr.kind) {
    case 'int':
      return onnx.AttributeProto.create({ name, type: T.INT, i: attr.value });
    case 'ints':
      return onnx.AttributeProto.create({ name, type: T.INTS, ints: attr.value });
    case 'float':
      return onnx.AttributeProto.create({ name, type: T.FLOAT, f: attr.value });
    case 'string':
      return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(attr.value) });
  }
}

function valueInfo(spec: GraphValueSpec): InstanceType<typeof onnx.ValueInfoProto> {
  const dim = spec.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return onnx.ValueInfoProto.create({
    name: spec.name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } },
  });
}

/** Little-endian bytes of a typed array (ONNX raw_data is always little-endian, as are all hosts we run on). */
function rawBytes(data: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class GraphBuilder {
  private readonly usedNames = new Set<string>();
  private readonly nodes: NodeSpec[] = [];
  private readonly floatInits = new Map<string, FloatInitializer>();
  private readonly int64Inits: Int64Initializer[] = [];
  private readonly inputs: GraphValueSpec[] = [];
  private readonly outputs: GraphValueSpec[] = [];

  /** A name not used yet by any value, node or initializer; ONNX requires value names to be unique (SSA). */
  uniqueName(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = clean;
    for (let i = 1; this.usedNames.has(name); i++) name = `${clean}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  addFloatInitializer(base: string, data: Float32Array, dims: number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== data.length) throw new Error(`initializer ${base}: ${data.length} values for shape [${dims}]`);
    const name = this.uniqueName(base);
    this.floatInits.set(name, { name, dims, data });
    return name;
  }

  addInt64Initializer(base: string, values: number[]): string {
    const name = this.uniqueName(base);
    this.int64Inits.push({ name, dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) });
    return name;
  }

  /** A float scalar constant (shape []), e.g. Clip bounds. */
  addScalar(base: string, value: number): string {
    return this.addFloatInitializer(base, Float32Array.of(value), []);
  }

  /** The live initializer record, for in-place rewrites such as BatchNorm folding. */
  floatInitializer(name: string): FloatInitializer {
    const init = this.floatInits.get(name);
    if (!init) throw new Error(`no float initializer named ${name}`);
    return init;
  }

  /** Appends a single-output node and returns the name of its output value. */
  addNode(
    opType: string,
    inputs: string[],
    outputBase: string,
    attributes: Record<string, AttributeValue> = {},
  ): string {
    const output = this.uniqueName(outputBase);
    this.nodes.push({ opType, name: this.uniqueName(`${output}/${opType}`), inputs, outputs: [output], attributes });
    return output;
  }

  addInput(spec: GraphValueSpec): void {
    if (this.usedNames.has(spec.name)) throw new Error(`graph input name ${spec.name} is already used`);
    this.usedNames.add(spec.name);
    this.inputs.push(spec);
  }

  /** Declares a graph output; the name must already be produced by a node (see `reserveName` for stable names). */
  addOutput(spec: GraphValueSpec): void {
    this.outputs.push(spec);
  }

  /** Claims a name as given when it is free (graph output names), otherwise a suffixed variant. */
  reserveName(name: string): string {
    if (this.usedNames.has(name)) return this.uniqueName(name);
    this.usedNames.add(name);
    return name;
  }

  /** Appends an Identity node writing to a name that was reserved, so outputs keep readable names. */
  addIdentity(input: string, output: string): void {
    this.nodes.push({
      opType: 'Identity',
      name: this.uniqueName(`${output}/Identity`),
      inputs: [input],
      outputs: [output],
      attributes: {},
    });
  }

  toModelProto(graphName: string, producer: string): InstanceType<typeof onnx.ModelProto> {
    const initializer = [
      ...[...this.floatInits.values()].map((t) =>
        onnx.TensorProto.create({
          name: t.name,
          dims: t.dims,
          dataType: onnx.TensorProto.DataType.FLOAT,
          rawData: rawBytes(t.data),
        }),
      ),
      ...this.int64Inits.map((t) =>
        onnx.TensorProto.create({
          name: t.name,
          dims: t.dims,
          dataType: onnx.TensorProto.DataType.INT64,
          rawData: rawBytes(t.data),
        }),
      ),
    ];
    const node = this.nodes.map((n) =>
      onnx.NodeProto.create({
        name: n.name,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes).map(([k, v]) => toAttributeProto(k, v)),
      }),
    );
    const graph = onnx.GraphProto.create({
      name: graphName,
      node,
      initializer,
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
    });
    return onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: producer,
      opsetImport: [{ domain: '', version: OPSET_VERSION }],
      graph,
    });
  }

  encode(graphName: string, producer: string): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(graphName, producer)).finish();
  }
}
