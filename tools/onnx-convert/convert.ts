/**
 * TF.js layers model directory → ONNX (opset 13). Reads model.json and its weight shards (dequantised like
 * TF.js), converts the Keras graph, writes `model.onnx` and records it in metadata.json's `onnx` entry.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { METADATA_FILE, metadataSchema } from '../../src/model/metadata.ts';
import { buildOnnxGraph } from './build-graph.ts';
import { parseKerasTopology } from './keras-model.ts';
import { readWeights } from './weights.ts';
import type { WeightsGroup } from './weights.ts';

export interface ConversionResult {
  outFile: string;
  inputName: string;
  outputName: string;
  /** Whether metadata.json was found and given an `onnx` entry. */
  metadataUpdated: boolean;
}

interface LayersModelJson {
  format?: string;
  modelTopology: unknown;
  weightsManifest?: WeightsGroup[];
}

const PRODUCER = 'image-classify-serving tfjs-to-onnx';

/** Converts an in-memory model.json (+ the directory its shards live in) to ONNX protobuf bytes. */
export async function convertLayersModel(
  modelJson: LayersModelJson,
  weightsDir: string,
): Promise<{ bytes: Uint8Array; inputName: string; outputName: string }> {
  if (modelJson.format && modelJson.format !== 'layers-model') {
    throw new Error(`model.json has format "${modelJson.format}"; only TF.js layers models can be converted`);
  }
  const model = parseKerasTopology(modelJson.modelTopology);
  const weights = await readWeights(weightsDir, modelJson.weightsManifest ?? []);
  const built = buildOnnxGraph(model, weights);
  return {
    bytes: built.graph.encode(model.name, PRODUCER),
    inputName: built.inputName,
    outputName: built.outputNames[0]!,
  };
}

async function readMetadataJson(modelDir: string): Promise<Record<string, unknown> | undefined> {
  const file = join(modelDir, METADATA_FILE);
  if (!existsSync(file)) return undefined;
  const raw = JSON.parse(await readFile(file, 'utf8')) as unknown;
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`invalid model metadata ${file}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return raw as Record<string, unknown>;
}

/**
 * Converts the TF.js layers model in `modelDir` (model.json, or metadata's `tfjs.modelJson`) and writes
 * `outFile` (default: model.onnx beside model.json). metadata.json, when present, gets `onnx: {file, inputName,
 * outputName}` and keeps its NHWC input layout, which is what the converted graph takes.
 */
export async function convertTfjsModelDir(modelDir: string, outFile?: string): Promise<ConversionResult> {
  const dir = resolve(modelDir);
  const metadata = await readMetadataJson(dir);
  const tfjsEntry = metadata?.tfjs as { modelJson?: string; format?: string } | undefined;
  if (tfjsEntry?.format === 'graph')
    throw new Error(`${dir} holds a TF.js graph model; only layers models can be converted`);
  const modelJsonFile = join(dir, tfjsEntry?.modelJson ?? 'model.json');
  const modelJson = JSON.parse(await readFile(modelJsonFile, 'utf8')) as LayersModelJson;
  const converted = await convertLayersModel(modelJson, dirname(modelJsonFile));

  const target = resolve(outFile ?? join(dirname(modelJsonFile), 'model.onnx'));
  await writeFile(target, converted.bytes);
  if (metadata) {
    const input = { ...(metadata.input as Record<string, unknown>), layout: 'NHWC' };
    const onnx = { file: relative(dir, target), inputName: converted.inputName, outputName: converted.outputName };
    await writeFile(join(dir, METADATA_FILE), JSON.stringify({ ...metadata, input, onnx }, null, 2) + '\n');
  }
  return {
    outFile: target,
    inputName: converted.inputName,
    outputName: converted.outputName,
    metadataUpdated: metadata !== undefined,
  };
}
