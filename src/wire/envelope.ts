/**
 * The wire format between front ends and model hosts, defined once: a request envelope per image and a result
 * per request, both msgpack (msgpackr) in one stream-entry field.
 */
import { Packr } from 'msgpackr';
import type { ErrorCode } from './errors.ts';

export const WIRE_VERSION = 1;

interface EnvelopeCommon {
  v: typeof WIRE_VERSION;
  /** Random request id (also the X-Request-Id); results are matched on it. */
  id: string;
  topk: number;
  /** Epoch ms after which nobody waits for the answer. */
  deadline: number;
  /** Reply stream of the front end holding the HTTP request. */
  replyTo: string;
  /** Ask for every class's probability (Result.scores) besides the top k: the Open Inference Protocol's output. */
  scores?: boolean;
}

/**
 * What a model host is asked to classify, exactly one of:
 *   image   the encoded image exactly as uploaded; only model hosts decode it.
 *   tensor  a ready model input (an Open Inference Protocol FP32 tensor): one image's float32 values,
 *           little-endian, in the model's input layout and size; copied into the batch without decoding.
 */
export type RequestEnvelope = EnvelopeCommon &
  ({ image: Uint8Array; tensor?: undefined } | { tensor: Uint8Array; image?: undefined });

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
      /** Every class's probability as float32 little-endian bytes, when the envelope asked for `scores`. */
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

export function packEnvelope(env: RequestEnvelope): Buffer {
  return packr.pack(env);
}

/** Decodes and checks an envelope; returns undefined for anything malformed so one bad entry cannot stop a host. */
export function unpackEnvelope(buf: Uint8Array): RequestEnvelope | undefined {
  let env: Partial<RequestEnvelope>;
  try {
    env = packr.unpack(buf) as Partial<RequestEnvelope>;
  } catch {
    return undefined;
  }
  if (
    env === null ||
    typeof env !== 'object' ||
    env.v !== WIRE_VERSION ||
    typeof env.id !== 'string' ||
    env.image instanceof Uint8Array === env.tensor instanceof Uint8Array ||
    typeof env.topk !== 'number' ||
    typeof env.deadline !== 'number' ||
    typeof env.replyTo !== 'string'
  )
    return undefined;
  return env as RequestEnvelope;
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
