/**
 * TF.js model directory (layers or graph model) → ONNX (opset 13). Reads model.json and its weight shards
 * (dequantised like TF.js), converts the Keras or TF graph, writes `model.onnx` and records it in metadata.json's
 * `onnx` entry; a failed conversion is recorded there instead, as the reason the model stays on TF.js.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { METADATA_FILE, metadataSchema } from '../../src/model/metadata.ts';
import { buildOnnxGraph } from './build-graph.ts';
import { parseKerasTopology } from './keras-model.ts';
import { buildGraphModelOnnx } from './tfjs-graph/build.ts';
import { parseGraphTopology } from './tfjs-graph/graph-model.ts';
import { readWeights } from './weights.ts';
import type { WeightsGroup } from './weights.ts';

export interface ConversionResult {
  outFile: string;
  inputName: string;
  outputName: string;
  /** Whether metadata.json was found and given an `onnx` entry. */
  metadataUpdated: boolean;
}

interface TfjsModelJson {
  [key: string]: unknown;
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: WeightsGroup[];
}

const PRODUCER = 'image-classify-serving tfjs-to-onnx';

/**
 * Converts an in-memory model.json (+ the directory its shards live in) to ONNX protobuf bytes. `inputShape`
 * ([H, W, C], from metadata) fills a graph model's unknown input sizes.
 */
export async function convertTfjsModel(
  modelJson: TfjsModelJson,
  weightsDir: string,
  inputShape?: number[],
): Promise<{ bytes: Uint8Array; inputName: string; outputName: string }> {
  const format = modelJson.format ?? 'layers-model';
  if (format !== 'layers-model' && format !== 'graph-model')
    throw new Error(`model.json has format "${format}"; TF.js layers and graph models can be converted`);
  const weights = await readWeights(weightsDir, modelJson.weightsManifest ?? []);
  if (format === 'graph-model') {
    const built = buildGraphModelOnnx(parseGraphTopology(modelJson), weights, inputShape);
    return { bytes: built.graph.encode('tfjs-graph-model', PRODUCER), ...names(built) };
  }
  const model = parseKerasTopology(modelJson.modelTopology);
  const built = buildOnnxGraph(model, weights);
  return { bytes: built.graph.encode(model.name, PRODUCER), ...names(built) };
}

const names = (built: { inputName: string; outputNames: string[] }) => ({
  inputName: built.inputName,
  outputName: built.outputNames[0]!,
});

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
  const tfjsEntry = metadata?.tfjs as { modelJson?: string } | undefined;
  const modelJsonFile = join(dir, tfjsEntry?.modelJson ?? 'model.json');
  const modelJson = JSON.parse(await readFile(modelJsonFile, 'utf8')) as TfjsModelJson;
  const input = metadata?.input as { height: number; width: number; channels?: number } | undefined;
  let converted: Awaited<ReturnType<typeof convertTfjsModel>>;
  try {
    converted = await convertTfjsModel(
      modelJson,
      dirname(modelJsonFile),
      input && [input.height, input.width, input.channels ?? 3],
    );
  } catch (err) {
    // The model stays on TF.js; an older ONNX entry may not match this model.json, so it goes too.
    if (metadata) {
      const { onnx: _stale, ...rest } = metadata;
      await writeMetadata(dir, { ...rest, onnxConversionError: (err as Error).message });
    }
    throw err;
  }

  const target = resolve(outFile ?? join(dirname(modelJsonFile), 'model.onnx'));
  await writeFile(target, converted.bytes);
  if (metadata) {
    const { onnxConversionError: _old, ...rest } = metadata;
    const onnx = { file: relative(dir, target), inputName: converted.inputName, outputName: converted.outputName };
    await writeMetadata(dir, { ...rest, input: { ...input, layout: 'NHWC' }, onnx });
  }
  return {
    outFile: target,
    inputName: converted.inputName,
    outputName: converted.outputName,
    metadataUpdated: metadata !== undefined,
  };
}

async function writeMetadata(dir: string, metadata: Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, METADATA_FILE), JSON.stringify(metadata, null, 2) + '\n');
}
