/**
 * The model-host heartbeat hash (keys.hostInfo(id)): what a live host publishes about itself, written by
 * host/heartbeat.ts and read by the front end's /readyz and GET /v1/models. Hash fields are strings: numbers are
 * decimal, the labels, input and preprocessing objects JSON.
 */

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

export interface HostHeartbeat {
  model: string;
  engine: string;
  backend: string;
  format: string;
  maxBatch: number;
  startedAt: number;
  /** When the host last wrote the hash (ms since the epoch). */
  heartbeatAt: number;
  /** For GET /v1/models. */
  labels?: string[];
  input?: ModelInput;
  preprocessing?: ModelPreprocessing;
  output?: string;
}

/** The fields /readyz lists for each host: the identity ones, without the model's labels, input and preprocessing. */
export const READINESS_FIELDS = ['model', 'engine', 'backend', 'format', 'maxBatch', 'startedAt', 'heartbeatAt'] as const;

export function encodeHeartbeat(h: HostHeartbeat): Record<string, string> {
  const fields: Record<string, string> = {
    model: h.model,
    engine: h.engine,
    backend: h.backend,
    format: h.format,
    maxBatch: String(h.maxBatch),
    startedAt: String(h.startedAt),
    heartbeatAt: String(h.heartbeatAt),
  };
  if (h.labels) fields.labels = JSON.stringify(h.labels);
  if (h.input) fields.input = JSON.stringify(h.input);
  if (h.preprocessing) fields.preprocessing = JSON.stringify(h.preprocessing);
  if (h.output !== undefined) fields.output = h.output;
  return fields;
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** The hash as HGETALL returns it; undefined when it is empty or has no model (expired between two reads). */
export function decodeHeartbeat(fields: Record<string, string> | null | undefined): HostHeartbeat | undefined {
  if (!fields?.model) return undefined;
  const h: HostHeartbeat = {
    model: fields.model,
    engine: fields.engine ?? '',
    backend: fields.backend ?? '',
    format: fields.format ?? '',
    maxBatch: Number(fields.maxBatch),
    startedAt: Number(fields.startedAt),
    heartbeatAt: Number(fields.heartbeatAt),
  };
  const labels = parseJson<string[]>(fields.labels);
  const input = parseJson<ModelInput>(fields.input);
  const preprocessing = parseJson<ModelPreprocessing>(fields.preprocessing);
  if (labels) h.labels = labels;
  if (input) h.input = input;
  if (preprocessing) h.preprocessing = preprocessing;
  if (fields.output !== undefined) h.output = fields.output;
  return h;
}

/** /readyz's entry for one host: its id and the readiness fields as they are on the wire (strings). */
export function readinessEntry(id: string, h: HostHeartbeat): Record<string, string> {
  const wire = encodeHeartbeat(h);
  return { id, ...Object.fromEntries(READINESS_FIELDS.map((k) => [k, wire[k] ?? ''])) };
}
