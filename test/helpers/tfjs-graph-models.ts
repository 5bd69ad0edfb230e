/**
 * Small TF.js graph models written by hand, as tensorflowjs_converter lays them out (model.json with a GraphDef in
 * protobuf JSON + one weights.bin), so single ops can be run through TF.js and through the ONNX converter.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

type Attr = Record<string, unknown>;

/** Attribute values in the protobuf JSON spelling TF.js reads: int64 as strings, strings base64. */
export const attr = {
  int: (i: number): Attr => ({ i: String(i) }),
  ints: (values: number[]): Attr => ({ list: { i: values.map(String) } }),
  float: (f: number): Attr => ({ f }),
  bool: (b: boolean): Attr => ({ b }),
  str: (s: string): Attr => ({ s: Buffer.from(s).toString('base64') }),
  strs: (values: string[]): Attr => ({ list: { s: values.map((s) => Buffer.from(s).toString('base64')) } }),
  float32: { type: 'DT_FLOAT' } as Attr,
};

export interface GraphConst {
  shape: number[];
  values: ArrayLike<number>;
  dtype?: 'float32' | 'int32';
}

export interface GraphNodeSpec {
  name: string;
  op: string;
  inputs: string[];
  attr?: Record<string, Attr>;
}

export interface GraphModelSpec {
  /** The Placeholder "x": -1 for the batch. */
  inputShape: number[];
  consts: Record<string, GraphConst>;
  nodes: GraphNodeSpec[];
}

/** The model.json object of `spec`, and its weights in manifest order. */
export function graphModelJson(spec: GraphModelSpec): { json: Record<string, unknown>; weights: Buffer } {
  const placeholder = {
    name: 'x',
    op: 'Placeholder',
    attr: { dtype: attr.float32, shape: { shape: { dim: spec.inputShape.map((d) => ({ size: String(d) })) } } },
  };
  const constNodes = Object.entries(spec.consts).map(([name, c]) => ({
    name,
    op: 'Const',
    attr: {
      dtype: { type: c.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' },
      value: { tensor: { dtype: c.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: {} } },
    },
  }));
  const nodes = spec.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    input: n.inputs,
    attr: { T: attr.float32, ...n.attr },
  }));
  const buffers = Object.values(spec.consts).map((c) =>
    c.dtype === 'int32'
      ? Buffer.from(Int32Array.from(c.values).buffer)
      : Buffer.from(Float32Array.from(c.values).buffer),
  );
  const json = {
    format: 'graph-model',
    generatedBy: 'test',
    convertedBy: 'test/helpers/tfjs-graph-models.ts',
    modelTopology: { node: [placeholder, ...constNodes, ...nodes], versions: { producer: 175 } },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: Object.entries(spec.consts).map(([name, c]) => ({
          name,
          shape: c.shape,
          dtype: c.dtype ?? 'float32',
        })),
      },
    ],
  };
  return { json, weights: Buffer.concat(buffers) };
}

/** Writes `spec` into `dir` as model.json + weights.bin. */
export async function writeGraphModelDir(dir: string, spec: GraphModelSpec): Promise<Record<string, unknown>> {
  await mkdir(dir, { recursive: true });
  const { json, weights } = graphModelJson(spec);
  await writeFile(join(dir, 'weights.bin'), weights);
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  return json;
}
