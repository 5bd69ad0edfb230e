// Node 20 worker threads do not apply tsx's loader to their own entry module: register it here, then load the
// real TypeScript entry named in workerData.entry (and re-export its default, which piscina calls per task, and
// `ready`, which PreprocessPool.started() calls by name).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const mod = await import(workerData.entry);
export default mod.default;
export const ready = mod.ready;
