/** The production topology's private redis-server: its configuration file holds port and password (0600). */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { privateRedisConf, privateRedisMaxmemory } from '../../src/redis/embedded.ts';
import { freePort } from '../../src/system/ports.ts';

export const redisConfPath = (redisDir: string) => join(redisDir, 'redis.conf');

/**
 * Creates redisDir/redis.conf once (random password, `port` or a free one), then reuses it; its memory bound
 * follows MAX_QUEUE_BYTES at every `up` (noeviction: a full Redis refuses, never drops requests).
 */
export async function ensureRedisConf(
  redisDir: string,
  port: number | undefined,
  maxQueueBytes: number,
  responseCacheBytes: number,
): Promise<void> {
  const file = redisConfPath(redisDir);
  if (!existsSync(file)) await createRedisConf(redisDir, port, maxQueueBytes, responseCacheBytes);
  const conf = await readFile(file, 'utf8');
  const memory = `maxmemory ${privateRedisMaxmemory(maxQueueBytes, responseCacheBytes)}\nmaxmemory-policy noeviction\n`;
  const updated = conf.replace(/^maxmemory .*\n|^maxmemory-policy .*\n/gm, '') + memory;
  if (updated !== conf) await writeFile(file, updated, { mode: 0o600 });
}

async function createRedisConf(
  redisDir: string,
  port: number | undefined,
  maxQueueBytes: number,
  responseCacheBytes: number,
): Promise<void> {
  await mkdir(redisDir, { recursive: true, mode: 0o700 });
  const settings = privateRedisConf({
    port: port ?? (await freePort()),
    password: randomBytes(24).toString('base64url'),
    maxmemoryBytes: privateRedisMaxmemory(maxQueueBytes, responseCacheBytes),
    dir: redisDir,
  });
  const header =
    '# Private Redis of this deployment, written by scripts/prod.ts: loopback only, password, no persistence.\n';
  await writeFile(redisConfPath(redisDir), header + settings, { mode: 0o600 });
}

/** redis:// URL of the private Redis, from its configuration file. */
export async function privateRedisUrl(redisDir: string): Promise<string> {
  const file = redisConfPath(redisDir);
  if (!existsSync(file)) {
    throw new Error(`REDIS_URL is not set and ${file} does not exist: run \`npm run prod:up\`, or set REDIS_URL`);
  }
  const conf = await readFile(file, 'utf8');
  const setting = (re: RegExp, name: string): string => {
    const value = re.exec(conf)?.[1];
    if (value === undefined) throw new Error(`${file} has no ${name} line`);
    return value;
  };
  const port = setting(/^port (\d+)$/m, 'port');
  const pass = setting(/^requirepass "([^"]+)"$/m, 'requirepass');
  return `redis://:${encodeURIComponent(pass)}@127.0.0.1:${port}`;
}
