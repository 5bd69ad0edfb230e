/** Finds system binaries (nginx, redis-server) the way every script, benchmark and test should. */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** sbin directories are often missing from a non-root PATH, and Debian installs nginx in /usr/sbin. */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of `name` on `path` (the caller's PATH) or in an sbin directory; the bare name when not found (spawn then says ENOENT). */
export function findBinary(name: string, path = ''): string {
  for (const dir of [...path.split(delimiter), ...SBIN]) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return name;
}
