/**
 * The model-host heartbeat hash (keys.hostInfo(id)): what a live host publishes about itself, written by
 * host/heartbeat.ts and read by the front end's /readyz, GET /v1/models and the Open Inference Protocol routes.
 * Hash fields are strings: the times decimal, the served models (with labels, input, preprocessing) JSON.
 */
import type { VersionStatus } from './versions.ts';

export interface ModelInput {
  height: number;
  width: number;
  channels: number;
  layout: string;
}

export interface ModelPreprocessing {
  channelOrder: string;
  scale: number;
  mean: number[];
  std: number[];
  /** The declared resize rule (model metadata preprocessing.resize). */
  resize?: { method: string; alignCorners: boolean; halfPixelCenters: boolean; fit: string };
}

/** One model a host serves, as GET /v1/models and the Open Inference Protocol's model metadata describe it. */
export interface ServedModel {
  /** The serving name: its directory in the model repository. */
  name: string;
  /** Which of the model's versions this entry is (absent: 1). */
  version?: number;
  /** The name in its metadata.json. */
  title: string;
  engine: string;
  backend: string;
  format: string;
  maxBatch: number;
  labels: string[];
  input: ModelInput;
  preprocessing: ModelPreprocessing;
  output: string;
}

export interface HostHeartbeat {
  startedAt: number;
  /** When the host last wrote the hash (ms since the epoch). */
  heartbeatAt: number;
  /** Every model version the host serves now (none while its first model loads, or when all are unloaded). */
  models: ServedModel[];
  /** Every version the host holds, ready or not, per model (src/wire/versions.ts). */
  versions: Record<string, VersionStatus[]>;
}

/** The fields /readyz lists for each host and model: the identity ones, without labels, input and preprocessing. */
export const READINESS_FIELDS = [
  'model',
  'engine',
  'backend',
  'format',
  'maxBatch',
  'startedAt',
  'heartbeatAt',
] as const;

export function encodeHeartbeat(h: HostHeartbeat): Record<string, string> {
  return {
    startedAt: String(h.startedAt),
    heartbeatAt: String(h.heartbeatAt),
    models: JSON.stringify(h.models),
    versions: JSON.stringify(h.versions),
  };
}

/**
 * The hash as HGETALL returns it; undefined when it is empty or torn (expired between two reads). The one decoder
 * of the hash: a report without versions (an older host) counts each served model's version as ready.
 */
export function decodeHeartbeat(fields: Record<string, string> | null | undefined): HostHeartbeat | undefined {
  const models = parseJson(fields?.models);
  if (!Array.isArray(models)) return undefined;
  const reported = parseJson(fields?.versions);
  const versions =
    reported !== null && typeof reported === 'object' && !Array.isArray(reported)
      ? (reported as Record<string, VersionStatus[]>)
      : servedAsReady(models as ServedModel[]);
  return {
    startedAt: Number(fields?.startedAt),
    heartbeatAt: Number(fields?.heartbeatAt),
    models: models as ServedModel[],
    versions,
  };
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function servedAsReady(models: readonly ServedModel[]): Record<string, VersionStatus[]> {
  const versions: Record<string, VersionStatus[]> = {};
  for (const m of models) (versions[m.name] ??= []).push({ version: m.version ?? 1, state: 'ready' });
  return versions;
}

/** /readyz's entries for one host, one per model it serves, with the readiness fields as strings. */
export function readinessEntries(
  id: string,
  h: HostHeartbeat,
): Array<Record<(typeof READINESS_FIELDS)[number] | 'id', string>> {
  return h.models.map((m) => ({
    id,
    model: m.name,
    engine: m.engine,
    backend: m.backend,
    format: m.format,
    maxBatch: String(m.maxBatch),
    startedAt: String(h.startedAt),
    heartbeatAt: String(h.heartbeatAt),
  }));
}
