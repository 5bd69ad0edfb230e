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
  /** Every model the host serves (at least one). */
  models: ServedModel[];
  /** Every version the host holds, ready or not, per model (src/wire/versions.ts). */
  versions?: Record<string, VersionStatus[]>;
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
  const fields: Record<string, string> = {
    startedAt: String(h.startedAt),
    heartbeatAt: String(h.heartbeatAt),
    models: JSON.stringify(h.models),
  };
  if (h.versions) fields.versions = JSON.stringify(h.versions);
  return fields;
}

/** The hash as HGETALL returns it; undefined when it is empty or lists no model (expired between two reads). */
export function decodeHeartbeat(fields: Record<string, string> | null | undefined): HostHeartbeat | undefined {
  let models: unknown;
  try {
    models = JSON.parse(fields?.models ?? '');
  } catch {
    return undefined;
  }
  if (!Array.isArray(models) || models.length === 0) return undefined;
  let versions: Record<string, VersionStatus[]> | undefined;
  try {
    versions = fields?.versions ? (JSON.parse(fields.versions) as Record<string, VersionStatus[]>) : undefined;
  } catch {
    versions = undefined;
  }
  return {
    startedAt: Number(fields?.startedAt),
    heartbeatAt: Number(fields?.heartbeatAt),
    models: models as ServedModel[],
    ...(versions && { versions }),
  };
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
