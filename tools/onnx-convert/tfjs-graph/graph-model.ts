/**
 * Parses a TF.js graph model's topology (model.json `modelTopology.node`, TensorFlow's GraphDef in protobuf JSON)
 * into nodes with decoded attributes, its placeholders and its outputs, in an order where inputs come first.
 */

/** One attribute value as protobuf JSON writes it: int64 as strings, strings base64, lists under `list`. */
interface AttrJson {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string;
  type?: string;
  shape?: { dim?: Array<{ size?: string | number }>; unknownRank?: boolean };
  list?: { i?: Array<string | number>; f?: number[]; s?: string[] };
}

export interface TfNode {
  name: string;
  op: string;
  /** Data inputs as `producer` or `producer:k` (control inputs `^x` removed). */
  inputs: string[];
  attr: Record<string, AttrJson>;
}

export class GraphOpError extends Error {
  constructor(node: { name: string; op: string }, reason: string) {
    super(`cannot convert node "${node.name}" (op ${node.op}): ${reason}`);
    this.name = 'GraphOpError';
  }
}

const decodeString = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

/** Typed access to a node's attributes; every failure names the node and its op. */
export class NodeAttrs {
  constructor(readonly node: TfNode) {}

  error(reason: string): GraphOpError {
    return new GraphOpError(this.node, reason);
  }

  has(key: string): boolean {
    return this.node.attr[key] !== undefined;
  }

  int(key: string, fallback?: number): number {
    const v = this.node.attr[key]?.i;
    if (v !== undefined) return Number(v);
    if (fallback !== undefined) return fallback;
    throw this.error(`attribute "${key}" (an int) is missing`);
  }

  float(key: string, fallback: number): number {
    return this.node.attr[key]?.f ?? fallback;
  }

  bool(key: string, fallback: boolean): boolean {
    return this.node.attr[key]?.b ?? fallback;
  }

  string(key: string, fallback?: string): string {
    const v = this.node.attr[key]?.s;
    if (v !== undefined) return decodeString(v);
    if (fallback !== undefined) return fallback;
    throw this.error(`attribute "${key}" (a string) is missing`);
  }

  ints(key: string, fallback?: number[]): number[] {
    const list = this.node.attr[key]?.list;
    if (list) return (list.i ?? []).map(Number);
    if (fallback) return fallback;
    throw this.error(`attribute "${key}" (a list of ints) is missing`);
  }

  strings(key: string): string[] {
    return (this.node.attr[key]?.list?.s ?? []).map(decodeString);
  }

  /** The `shape` attribute of a Placeholder: -1 for unknown dimensions, undefined for an unknown rank. */
  shape(key: string): number[] | undefined {
    const shape = this.node.attr[key]?.shape;
    if (!shape || shape.unknownRank) return undefined;
    return (shape.dim ?? []).map((d) => Number(d.size ?? -1));
  }

  /** Rejects non-float tensors: the converted graph carries float32 only. */
  requireFloat(key = 'T'): void {
    const type = this.node.attr[key]?.type;
    if (type !== undefined && type !== 'DT_FLOAT') throw this.error(`dtype ${type} is not supported (float32 only)`);
  }
}

export interface TfGraph {
  /** Every node except Const and Placeholder, inputs before consumers. */
  ops: TfNode[];
  consts: Set<string>;
  placeholders: TfNode[];
  /** Output tensors: the signature's, or else every op output nothing reads. */
  outputs: string[];
}

type Json = Record<string, unknown>;

function parseNode(raw: unknown): TfNode {
  const n = raw as Json;
  if (typeof n?.name !== 'string' || typeof n.op !== 'string')
    throw new Error(`model.json: malformed graph node ${JSON.stringify(raw).slice(0, 200)}`);
  const inputs = Array.isArray(n.input) ? (n.input as string[]).filter((i) => !i.startsWith('^')) : [];
  return { name: n.name, op: n.op, inputs, attr: (n.attr ?? {}) as Record<string, AttrJson> };
}

/** `node:0` and `node` are the same tensor. */
export function tensorKey(input: string): string {
  return input.replace(/:0$/, '');
}

/** Output names from a signature (`modelJson.signature` or `userDefinedMetadata.signature`). */
function signatureOutputs(modelJson: Json): string[] | undefined {
  const meta = modelJson.userDefinedMetadata as Json | undefined;
  const signature = (modelJson.signature ?? meta?.signature) as { outputs?: Record<string, { name?: string }> };
  const outputs = signature?.outputs && Object.values(signature.outputs).map((o) => o.name);
  return outputs?.length && outputs.every((o): o is string => typeof o === 'string')
    ? outputs.map(tensorKey)
    : undefined;
}

function topological(ops: TfNode[], available: Set<string>): TfNode[] {
  const ordered: TfNode[] = [];
  const done = new Set(available);
  const pending = new Map(ops.map((n) => [n.name, n]));
  const visiting = new Set<string>();
  const visit = (node: TfNode): void => {
    if (!pending.has(node.name)) return;
    if (visiting.has(node.name)) throw new GraphOpError(node, 'the graph has a cycle through this node');
    visiting.add(node.name);
    for (const input of node.inputs) {
      const producer = input.split(':')[0]!;
      const dep = pending.get(producer);
      if (dep) visit(dep);
      else if (!done.has(producer)) throw new GraphOpError(node, `input "${input}" is produced by no node`);
    }
    pending.delete(node.name);
    done.add(node.name);
    ordered.push(node);
  };
  for (const node of ops) visit(node);
  return ordered;
}

export function parseGraphTopology(modelJson: Json): TfGraph {
  const topology = modelJson.modelTopology as Json | undefined;
  if (!topology || !Array.isArray(topology.node)) throw new Error('model.json: modelTopology.node is missing');
  const functions = (topology.library as Json | undefined)?.function;
  if (Array.isArray(functions) && functions.length)
    throw new Error('model.json: the graph has functions (control flow), which the converter does not support');
  const nodes = topology.node.map(parseNode);
  const consts = new Set(nodes.filter((n) => n.op === 'Const').map((n) => n.name));
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  const ops = topological(
    nodes.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder'),
    new Set([...consts, ...placeholders.map((p) => p.name)]),
  );
  const read = new Set(ops.flatMap((n) => n.inputs.map(tensorKey)));
  const outputs = signatureOutputs(modelJson) ?? ops.map((n) => n.name).filter((name) => !read.has(name));
  return { ops, consts, placeholders, outputs };
}
