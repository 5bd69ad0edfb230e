/**
 * The response cache's layout in Redis, shared by every front end (src/frontend/response-cache.ts):
 *
 *   {prefix:rc}:e:<model>:<version>:<signature>:<sha256 of the image, base64url>   an entry (string, PX TTL)
 *   {prefix:rc}:index    sorted set: entry key → its expiry (epoch ms); the oldest to expire is evicted first
 *   {prefix:rc}:sizes    hash: entry key → the bytes it is counted for
 *   {prefix:rc}:bytes    the bytes counted for all entries, never above RESPONSE_CACHE_MAX_BYTES
 *
 * An entry's value is the model's full probability vector, float32 little-endian, one per class: any top k and
 * the Open Inference Protocol's outputs are answered from it. Everything shares one hash tag (one Redis Cluster
 * slot), so one script can keep the bound exactly (docs/operability.md says why this and not spread by hash).
 */
import { createHash } from 'node:crypto';
import type { ModelMetadata } from '../model/metadata.ts';

export interface ResponseCacheKeys {
  index: string;
  sizes: string;
  bytes: string;
  /** The start of one model version's entry keys, to which the image's hash is appended. */
  entryBase(model: string, version: number, signature: string): string;
}

export function responseCacheKeys(prefix: string): ResponseCacheKeys {
  const tag = `{${prefix}:rc}`;
  return {
    index: `${tag}:index`,
    sizes: `${tag}:sizes`,
    bytes: `${tag}:bytes`,
    entryBase: (model, version, signature) => `${tag}:e:${model}:${version}:${signature}:`,
  };
}

/**
 * What the answer to an image depends on besides the weights (which the version stands for): the declared
 * input, preprocessing, output kind and labels. A changed metadata.json therefore never serves an old entry.
 */
export function preprocessingSignature(meta: Pick<ModelMetadata, 'input' | 'preprocessing' | 'output' | 'labels'>) {
  const declared = JSON.stringify([meta.input, meta.preprocessing, meta.output, meta.labels]);
  return createHash('sha256').update(declared).digest('base64url').slice(0, 16);
}

/** The image's hash as the entry key's last part. */
export function imageDigest(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('base64url');
}

/** An entry's value as probabilities, or undefined when it is not one row of `classes` (then it is a miss). */
export function decodeCachedScores(value: Uint8Array, classes: number): Float32Array | undefined {
  if (value.byteLength !== classes * 4) return undefined;
  // A copy: the reply buffer's offset need not be 4-aligned.
  return new Float32Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
}
