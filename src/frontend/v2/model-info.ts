/**
 * What the Open Inference Protocol says about the server and its models, for REST (routes.ts) and gRPC
 * (src/grpc/) alike: the model and version a request names, server and model metadata, model readiness.
 */
import { PACKAGE } from '../../config/package-info.ts';
import type { RedisClient } from '../../redis/connect.ts';
import type { Keys } from '../../wire/keys.ts';
import type { ModelRepository, RepositoryModel } from '../../model/repository.ts';
import type { Exchange } from '../../http/exchange.ts';
import { readHosts } from '../../registry/host-registry.ts';
import { chooseServing, VERSION_PARAM, type VersionView } from '../version-routing.ts';
import { INPUT_NAME, type TensorModel } from './tensor-input.ts';
import { OUTPUT_NAME } from './infer-output.ts';

export const SERVER_NAME = 'image-classify-serving';
export const SERVER_VERSION = PACKAGE.version;
export const EXTENSIONS = ['binary_tensor_data', 'classification'];
/** The version a model without version reports answers as. */
export const MODEL_VERSION = '1';

export interface ModelInfoContext {
  redis: RedisClient;
  keys: Keys;
  repository: ModelRepository;
  versions?: VersionView;
}

/** The version a request goes to: the model, its version number, and the name its request stream has. */
export interface InferTarget {
  model: RepositoryModel;
  version: number;
  serving: string;
}

export function serverMetadata(): { name: string; version: string; extensions: string[] } {
  return { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS };
}

/** The model a request names, if served here and its version (when given) is a version number; else answered 404. */
export function resolveModel(
  ctx: ModelInfoContext,
  exchange: Exchange,
  name: string,
  version: string | undefined,
): RepositoryModel | undefined {
  const model = ctx.repository.get(name);
  exchange.annotate({ model: model?.name });
  if (!model) {
    exchange.error('MODEL_NOT_FOUND', ctx.repository.notFound(name));
    return undefined;
  }
  if (version !== undefined && !VERSION_PARAM.test(version)) {
    exchange.error('MODEL_NOT_FOUND', `Model ${model.name} has no version "${version.slice(0, 16)}".`);
    return undefined;
  }
  return model;
}

/** The version a request on this model goes to: the pinned one, else the newest ready; undefined when answered. */
export function resolveTarget(
  ctx: ModelInfoContext,
  exchange: Exchange,
  model: RepositoryModel,
  version: string | undefined,
): InferTarget | undefined {
  const choice = chooseServing(ctx.versions, model.name, version === undefined ? undefined : Number(version));
  if (!choice.ok) {
    exchange.error(choice.code, choice.message);
    return undefined;
  }
  exchange.annotate({ version: choice.version });
  return { model, version: choice.version, serving: choice.serving };
}

/** Input dims without N, in the model's declared layout. */
export function inputDims(model: RepositoryModel): number[] {
  const { height, width, channels, layout } = model.meta.input;
  return layout === 'NCHW' ? [channels, height, width] : [height, width, channels];
}

export function tensorModel(model: RepositoryModel): TensorModel {
  return { dims: inputDims(model), classes: model.meta.labels.length };
}

type LiveEngine = { engine: string; backend: string; format: string };

async function liveModels(ctx: ModelInfoContext): Promise<Map<string, LiveEngine>> {
  const live = new Map<string, LiveEngine>();
  for (const host of await readHosts(ctx.redis, ctx.keys)) {
    for (const m of host.models) live.set(m.name, { engine: m.engine, backend: m.backend, format: m.format });
  }
  return live;
}

/** The platform string ("<project>_<format>"): onnxruntime_onnx, or tensorflowjs_layers / tensorflowjs_graph. */
function platform(engine: LiveEngine | undefined, model: RepositoryModel): string {
  if (engine) return engine.engine === 'onnx' ? 'onnxruntime_onnx' : `tensorflowjs_${engine.format}`;
  return model.meta.onnx ? 'onnxruntime_onnx' : `tensorflowjs_${model.meta.tfjs?.format ?? 'layers'}`;
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: Array<{ name: string; datatype: string; shape: number[] }>;
  outputs: Array<{ name: string; datatype: string; shape: number[] }>;
  /** The protocol's properties are strings: the engine serving it now, and what else the input accepts. */
  properties: Record<string, string>;
}

/** Model metadata; the engine from the live hosts when Redis answers, else from the model's files. */
export async function modelMetadata(ctx: ModelInfoContext, model: RepositoryModel): Promise<ModelMetadata> {
  const engine = (await liveModels(ctx).catch(() => new Map<string, LiveEngine>())).get(model.name);
  return {
    name: model.name,
    versions: ctx.versions?.readyVersions(model.name).map(String) ?? [MODEL_VERSION],
    platform: platform(engine, model),
    inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, ...inputDims(model)] }],
    outputs: [{ name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, model.meta.labels.length] }],
    properties: {
      engine: engine?.engine ?? 'none live',
      backend: engine?.backend ?? '',
      format: engine?.format ?? model.meta.tfjs?.format ?? 'onnx',
      title: model.meta.name,
      labels: model.meta.labels.join(','),
      input_layout: model.meta.input.layout,
      also_accepts: `${INPUT_NAME} as BYTES [N]: encoded images (binary data extension)`,
    },
  };
}

/** The model (pinned version, else any) is ready on some live host; rejects when Redis does not answer. */
export async function modelReady(ctx: ModelInfoContext, model: RepositoryModel, version?: string): Promise<boolean> {
  const pinned = version === undefined ? undefined : Number(version);
  const versionReady = ctx.versions ? ctx.versions.choose(model.name, pinned).ok : true;
  return (await liveModels(ctx)).has(model.name) && versionReady;
}
