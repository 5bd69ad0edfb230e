/**
 * libuv's thread pool is one per process (UV_THREADPOOL_SIZE, default 4) and every native decode holds one of its
 * threads until the decoder returns, even once abandoned (a native decoder cannot be interrupted). With fewer
 * libuv threads than decode threads, slow decodes hold them all and every other decode, and ONNX Runtime's runs,
 * wait behind them. libuv reads the variable once, before any of our code runs, so it must come from the
 * environment the host is started with: npm scripts, PM2 apps and test helpers set it from package.json's config.
 */
import { PACKAGE } from './package-info.ts';

export const UV_THREADPOOL_FOR_HOSTS = PACKAGE.config.uv_threadpool_size;

/**
 * glibc gives threads that allocate their own malloc arenas (up to 8 per core) and keeps freed memory in each: a
 * host whose decode, libuv and libvips threads take turns with large images crept up 300 MB over 96 noise images,
 * and stayed level with 2 (test/faults/decode-memory.test.ts). glibc too reads it once, from the environment.
 */
export const MALLOC_ARENA_MAX_FOR_HOSTS = PACKAGE.config.malloc_arena_max;

/** libuv threads a host needs: every decode thread of every model lane, plus a few for inference and files. */
export function uvThreadsNeeded(
  lanes: number,
  config: { PREPROCESS_THREADS: number; STRAGGLER_THREADS: number },
): number {
  return lanes * (config.PREPROCESS_THREADS + config.STRAGGLER_THREADS) + 4;
}

export function uvThreadpoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(size) && size > 0 ? size : 4;
}
