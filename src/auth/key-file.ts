/**
 * The API key file: one key per line as `name:sha256hex` (the key's name and the hex SHA-256 of the key), so the
 * file holds no secret. Blank lines and `#` comments are ignored. Parsing is pure; key-store.ts does the I/O.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface KeyEntry {
  /** What logs, metrics and the rate limiter call the key; never the key itself. */
  readonly name: string;
  /** SHA-256 of the key, 32 bytes. */
  readonly hash: Buffer;
}

export type KeyFileParse = { ok: true; keys: KeyEntry[] } | { ok: false; problems: string[] };

export const KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * Every problem is reported with its line number but never the line's text: an operator who pasted a raw key
 * by mistake must not find it in the log.
 */
export function parseKeyFile(text: string): KeyFileParse {
  const problems: string[] = [];
  const keys: KeyEntry[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `line ${i + 1}`;
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    const hex =
      colon < 0
        ? ''
        : line
            .slice(colon + 1)
            .trim()
            .toLowerCase();
    if (!KEY_NAME.test(name))
      return void problems.push(`${at}: the name must be 1-64 of A-Z a-z 0-9 . _ - before a ':'`);
    if (!SHA256_HEX.test(hex))
      return void problems.push(`${at} (${name}): after the ':' must come 64 hex digits (SHA-256)`);
    if (names.has(name)) return void problems.push(`${at}: the name ${name} appears twice`);
    if (hashes.has(hex)) return void problems.push(`${at} (${name}): the same key is listed under another name`);
    names.add(name);
    hashes.add(hex);
    keys.push({ name, hash: Buffer.from(hex, 'hex') });
  });
  // An empty file is far more often a half-written one than a wish to lock everyone out.
  if (problems.length === 0 && keys.length === 0) problems.push('no key in the file');
  return problems.length > 0 ? { ok: false, problems } : { ok: true, keys };
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** A new random key (256 bits, base64url: valid in a Bearer header as is) and its key-file line. */
export function newKey(name: string): { key: string; line: string } {
  if (!KEY_NAME.test(name))
    throw new Error(`the key name must be 1-64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
  const key = randomBytes(32).toString('base64url');
  return { key, line: `${name}:${hashKey(key).toString('hex')}` };
}
