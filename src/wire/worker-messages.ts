/**
 * Every message that crosses a thread boundary in the model host, as tagged unions. The main thread owns Redis
 * and batch bookkeeping; preprocessing workers write pixels into batch-buffer slots; one inference thread runs
 * the model over a filled buffer.
 */
import type { EngineChoice } from '../model/load-engine.ts';
import type { EngineInfo } from '../model/engine.ts';
import type { ModelMetadata } from '../model/metadata.ts';
import type { ErrorCode } from './errors.ts';
import type { DecoderUsed } from '../preprocess/preprocess-image.ts';
import type { PreprocessSettings } from '../preprocess/settings.ts';

/** Fixed for the pool's lifetime: passed once as workerData to every preprocessing worker. */
export interface PreprocessWorkerData {
  /** The batch buffers (float32 over SharedArrayBuffer), indexed by PreprocessTask.buffer. */
  buffers: SharedArrayBuffer[];
  input: ModelMetadata['input'];
  preprocessing: ModelMetadata['preprocessing'];
  /** Limits and decoder choices (src/preprocess/preprocess-image.ts). */
  settings: PreprocessSettings;
  /** Slots per buffer (MAX_BATCH), and the SlotClaims words that say who may write each slot. */
  slotsPerBuffer: number;
  slotClaims: SharedArrayBuffer;
  slotStarts: SharedArrayBuffer;
  /** The decoder stops itself after this (libvips' timeout, whole seconds); the pool abandons the task sooner. */
  decodeTimeoutMs: number;
}

export interface PreprocessTask {
  image: Uint8Array;
  buffer: number;
  slot: number;
  /** The slot's claim token (SlotClaims): pixels are written only while the slot still holds it. */
  token: number;
}

export type PreprocessOutcome =
  | { ok: true; ms: number; decoder?: DecoderUsed }
  | { ok: false; code: ErrorCode; message: string; detail: string };

export interface InferenceWorkerData {
  modelDir: string;
  engine: EngineChoice;
  intraOpThreads: number;
  tfjsBackend: string;
  buffers: SharedArrayBuffer[];
  maxBatch: number;
}

/** Main thread → inference thread. */
export type ToInference = { type: 'run'; batchId: number; buffer: number; n: number } | { type: 'stats' };

/** Inference thread → main thread. */
export type FromInference =
  | { type: 'ready'; info: EngineInfo; fallbackReason?: string; loadMs: number; warmupMs: number }
  | { type: 'result'; batchId: number; scores: Float32Array; ms: number }
  | { type: 'failed'; batchId: number; message: string }
  | { type: 'stats'; liveTensors: number }
  | { type: 'fatal'; message: string };
