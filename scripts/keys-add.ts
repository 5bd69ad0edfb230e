/**
 * `npm run keys:add -- NAME [--file PATH]`: makes a random API key (or admin key, with --file $ADMIN_KEYS_FILE), prints it once on stdout, and appends its
 * `NAME:sha256hex` line to the key file (API_KEYS_FILE, or --file). Only the hash is stored: the key cannot be
 * shown again. A running service picks the new line up by itself (it watches the file; SIGHUP also reloads).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { newKey, parseKeyFile } from '../src/auth/key-file.ts';
import { exitIfStaleBuild } from '../src/build/stamp.ts';

exitIfStaleBuild('keys:add');

function fail(message: string): never {
  process.stderr.write(`keys:add: ${message}\n`);
  process.exit(2);
}

const { values, positionals } = parseArgs({ options: { file: { type: 'string' } }, allowPositionals: true });
const [name, ...extra] = positionals;
if (!name || extra.length > 0) fail('usage: npm run keys:add -- NAME [--file PATH] (or set API_KEYS_FILE)');
const file = values.file ?? process.env.API_KEYS_FILE;
if (!file) fail('no key file: set API_KEYS_FILE or pass --file PATH');

let existing = '';
if (existsSync(file)) {
  existing = readFileSync(file, 'utf8');
  const parsed = parseKeyFile(existing);
  // A file holding no key yet is fine to add to; any other problem is the operator's to fix first.
  if (!parsed.ok && !(parsed.problems.length === 1 && parsed.problems[0] === 'no key in the file'))
    fail(`${file}: ${parsed.problems.join('; ')}`);
  if (parsed.ok && parsed.keys.some((k) => k.name === name)) fail(`${file} already has a key named ${name}`);
}

let created: { key: string; line: string };
try {
  created = newKey(name);
} catch (err) {
  fail((err as Error).message);
}
// One append of one whole line, so a watching service never reads half of it.
const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
appendFileSync(file, `${separator}${created.line}\n`, { mode: 0o644 });
process.stderr.write(`added key "${name}" to ${file}; it is shown once, below:\n`);
process.stdout.write(`${created.key}\n`);
