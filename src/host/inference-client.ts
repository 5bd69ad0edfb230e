/**
 * The main thread's handle on the inference thread: starts it, waits for the model to be loaded and warm, and
 * turns "run batch k" messages into promises. One batch is in flight at a time; the batcher guarantees it.
 */
import { Worker } from 'node:worker_threads';
import { workerScript } from '../build/layout.ts';
import type { EngineInfo } from '../model/engine.ts';
import type { FromInference, InferenceWorkerData, ToInference } from '../wire/worker-messages.ts';

const SCRIPT = workerScript('workers/inference.ts');

export interface BatchScores {
  scores: Float32Array;
  ms: number;
}

export interface InferenceReady {
  info: EngineInfo;
  fallbackReason?: string;
  loadMs: number;
  warmupMs: number;
}

export class InferenceClient {
  private readonly worker: Worker;
  private nextBatchId = 1;
  private readonly waiting = new Map<number, { resolve: (r: BatchScores) => void; reject: (e: Error) => void }>();
  /** Callers of liveTensors() in order: the thread answers stats requests in the order they were sent. */
  private readonly statsWaiters: Array<{ resolve: (n: number) => void; reject: (e: Error) => void }> = [];
  private failure?: Error;
  readonly ready: Promise<InferenceReady>;
  /** Called once if the thread dies; the host treats that as fatal. */
  onFatal: (err: Error) => void = () => {};

  constructor(data: InferenceWorkerData) {
    this.worker = new Worker(SCRIPT.filename, { workerData: { ...data, entry: SCRIPT.entry }, name: 'inference' });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (msg: FromInference) => {
        switch (msg.type) {
          case 'ready':
            return resolve(msg);
          case 'result':
            return this.settle(msg.batchId, (w) => w.resolve({ scores: msg.scores, ms: msg.ms }));
          case 'failed':
            return this.settle(msg.batchId, (w) => w.reject(new Error(msg.message)));
          case 'stats':
            return this.statsWaiters.shift()?.resolve(msg.liveTensors);
          case 'fatal': {
            const err = new Error(`inference thread failed: ${msg.message}`);
            reject(err);
            return this.die(err);
          }
        }
      });
      this.worker.on('error', (err) => {
        reject(err);
        this.die(err);
      });
      this.worker.on('exit', (code) => {
        const err = new Error(`inference thread exited with code ${code}`);
        reject(err);
        this.die(err);
      });
    });
  }

  run(buffer: number, n: number): Promise<BatchScores> {
    if (this.failure) return Promise.reject(this.failure);
    const batchId = this.nextBatchId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(batchId, { resolve, reject });
      this.post({ type: 'run', batchId, buffer, n });
    });
  }

  /** Live tensors in the engine (TF.js), for leak checks and metrics. */
  liveTensors(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.statsWaiters.push({ resolve, reject });
      this.post({ type: 'stats' });
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('inference thread closed');
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    this.rejectWaiting(this.failure);
  }

  private post(msg: ToInference): void {
    this.worker.postMessage(msg);
  }

  private settle(
    batchId: number,
    fn: (w: { resolve: (r: BatchScores) => void; reject: (e: Error) => void }) => void,
  ): void {
    const w = this.waiting.get(batchId);
    if (!w) return;
    this.waiting.delete(batchId);
    fn(w);
  }

  private die(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.rejectWaiting(err);
    this.onFatal(err);
  }

  private rejectWaiting(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    for (const w of this.statsWaiters.splice(0)) w.reject(err);
  }
}
