/**
 * A model's optional `config.json`, beside its metadata.json or its version directories: how it is served, as
 * Triton's config.pbtxt, in JSON. Absent: the defaults.
 *
 *   {"version_policy": {"latest": {"num_versions": 2}}}     versions served: the newest N (default: the newest 1)
 *   {"version_policy": {"all": {}}}                         every version
 *   {"version_policy": {"specific": {"versions": [1, 3]}}}  exactly these
 *   {"response_cache": {"enable": true, "ttl_s": 600}}      the response cache for this model: `enable` wins over
 *                                                           RESPONSE_CACHE either way, `ttl_s` over RESPONSE_CACHE_TTL_S
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { issueLines } from '../config/schema-issues.ts';

export const MODEL_CONFIG_FILE = 'config.json';

const policySchema = z.union([
  z.object({ latest: z.object({ num_versions: z.number().int().min(1).max(1000) }).strict() }).strict(),
  z.object({ all: z.object({}).strict() }).strict(),
  z.object({ specific: z.object({ versions: z.array(z.number().int().min(1)).min(1) }).strict() }).strict(),
]);

export type VersionPolicy = z.infer<typeof policySchema>;

export const DEFAULT_POLICY: VersionPolicy = { latest: { num_versions: 1 } };

const responseCacheSchema = z
  .object({
    enable: z.boolean().optional(),
    ttl_s: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .optional(),
  })
  .strict();

const modelConfigSchema = z
  .object({
    version_policy: policySchema.default(DEFAULT_POLICY),
    response_cache: responseCacheSchema.optional(),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** Reads the model's config.json; absent means the defaults. Throws naming the file on a bad one. */
export async function readModelConfig(modelDir: string): Promise<ModelConfig> {
  const file = join(modelDir, MODEL_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version_policy: DEFAULT_POLICY };
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = modelConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: ${issueLines(parsed.error).join('; ')}`);
  return parsed.data;
}
