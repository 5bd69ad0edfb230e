/**
 * The wire format between front ends and model hosts, defined once.
 *
 * A request is one stream entry (field names in keys.ts, REQUEST_FIELDS):
 *
 *   meta    msgpack RequestMeta: id, top k, deadline, reply address, and optional trace context
 *   image   the encoded image exactly as uploaded (only model hosts decode it)   — or —
 *   tensor  a ready model input (an Open Inference Protocol FP32 tensor): float32 little-endian, copied as is
 *
 * The bytes are their own field, never packed into the msgpack part, so neither side copies them to encode or
 * decode the entry. A response cache keyed by the image's SHA-256 hashes exactly the `image` field's bytes.
 * A result is msgpack in one field of a reply-stream entry (RESULT_FIELD).
 */
import { Packr } from 'msgpackr';
import type { ErrorCode } from './errors.ts';
import { REQUEST_FIELDS } from './keys.ts';

/** Version 1 packed the bytes inside one msgpack envelope (field `m`); hosts still read it (decodeRequest). */
export const WIRE_VERSION = 2;
const LEGACY_VERSION = 1;

/** The small part of a request entry. */
export interface RequestMeta {
  /** Random request id; results are matched on it. */
  id: string;
  topk: number;
  /** Epoch ms after which nobody waits for the answer. */
  deadline: number;
  /** Reply stream of the front end holding the HTTP request. */
  replyTo: string;
  /** Ask for every class's probability (Result.scores) besides the top k: the Open Inference Protocol's output. */
  scores?: boolean;
  /**
   * W3C trace context of the HTTP request (the `traceparent` header, version-traceid-parentid-flags), so a host's
   * spans join the front end's trace. Optional: a host ignores a missing or non-string value, never fails on it.
   */
  traceparent?: string;
  /** The caller's W3C `tracestate`, carried beside traceparent as is (vendor data for the same trace). */
  tracestate?: string;
}

/** A request as both sides hold it in memory: the meta part and exactly one of the image or the tensor. */
export type RequestEnvelope = RequestMeta &
  ({ image: Uint8Array; tensor?: undefined } | { tensor: Uint8Array; image?: undefined });

/** A request entry ready for XADD: the packed meta part and the bytes, as they are (a view, not a copy). */
export interface RequestEntry {
  meta: Buffer;
  field: typeof REQUEST_FIELDS.image | typeof REQUEST_FIELDS.tensor;
  bytes: Uint8Array;
}

export interface Prediction {
  label: string;
  probability: number;
}

export type Result =
  | {
      id: string;
      ok: true;
      predictions: Prediction[];
      timings?: ResultTimings;
      /** Every class's probability as float32 little-endian bytes, when the request asked for `scores`. */
      scores?: Uint8Array;
      /** The model that answered (stamped by the host's publisher); a front end refuses a result from another. */
      model?: string;
    }
  | { id: string; ok: false; code: ErrorCode; message: string; model?: string };

export interface ResultTimings {
  /** ms spent decoding and preprocessing this image. */
  preprocessMs: number;
  /** ms the whole batch took in the engine, and its size. */
  inferenceMs: number;
  batchSize: number;
}

// Records off: plain maps keep the format readable by any msgpack implementation.
const packr = new Packr({ useRecords: false });

export function encodeRequest(env: RequestEnvelope): RequestEntry {
  const { image, tensor, ...meta } = env;
  const packed = packr.pack({ v: WIRE_VERSION, ...meta });
  return image
    ? { meta: packed, field: REQUEST_FIELDS.image, bytes: image }
    : { meta: packed, field: REQUEST_FIELDS.tensor, bytes: tensor! };
}

/**
 * Reads a request entry's fields (name, value, name, value, ...); undefined for anything malformed, so one bad
 * entry cannot stop a host. The image or tensor is the entry's own buffer, not a copy.
 */
export function decodeRequest(fields: readonly Buffer[]): RequestEnvelope | undefined {
  let meta: Buffer | undefined;
  let image: Buffer | undefined;
  let tensor: Buffer | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString('latin1');
    const value = fields[i + 1]!;
    if (name === REQUEST_FIELDS.meta) meta = value;
    else if (name === REQUEST_FIELDS.image) image = value;
    else if (name === REQUEST_FIELDS.tensor) tensor = value;
    else if (name === REQUEST_FIELDS.legacy && fields.length === 2) return checked(unpack(value), LEGACY_VERSION);
  }
  if (!meta || (image === undefined) === (tensor === undefined)) return undefined;
  const m = unpack(meta);
  return m === undefined ? undefined : checked(image ? { ...m, image } : { ...m, tensor }, WIRE_VERSION);
}

function unpack(buf: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = packr.unpack(buf);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function checked(env: Record<string, unknown> | undefined, version: number): RequestEnvelope | undefined {
  if (
    env === undefined ||
    env.v !== version ||
    typeof env.id !== 'string' ||
    env.image instanceof Uint8Array === env.tensor instanceof Uint8Array ||
    typeof env.topk !== 'number' ||
    typeof env.deadline !== 'number' ||
    typeof env.replyTo !== 'string'
  )
    return undefined;
  const { v: _, traceparent, tracestate, ...rest } = env;
  if (typeof traceparent !== 'string') return rest as unknown as RequestEnvelope;
  return (typeof tracestate === 'string'
    ? { ...rest, traceparent, tracestate }
    : { ...rest, traceparent }) as unknown as RequestEnvelope;
}

export function packResult(result: Result): Buffer {
  return packr.pack(result);
}

export function unpackResult(buf: Uint8Array): Result | undefined {
  try {
    const r = packr.unpack(buf) as Result;
    return r && typeof r === 'object' && typeof r.id === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}
