/** The piscina pool of sharp workers that decode images into batch-buffer slots. */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { PreprocessOutcome, PreprocessTask, PreprocessWorkerData } from '../../workers/messages.ts';

const BOOTSTRAP = fileURLToPath(new URL('../../workers/ts-entry.mjs', import.meta.url));
const ENTRY = new URL('../../workers/preprocess.ts', import.meta.url).href;

export class PreprocessPool {
  private readonly pool: Piscina<PreprocessTask, PreprocessOutcome>;

  constructor(threads: number, maxTasks: number, data: PreprocessWorkerData) {
    this.pool = new Piscina({
      filename: BOOTSTRAP,
      minThreads: threads,
      maxThreads: threads,
      // The batcher never has more tasks out than it has slots, so this bound is never hit in practice.
      maxQueue: maxTasks,
      workerData: { ...data, entry: ENTRY },
    });
  }

  run(task: PreprocessTask): Promise<PreprocessOutcome> {
    return this.pool.run(task);
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
