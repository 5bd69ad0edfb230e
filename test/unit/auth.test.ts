import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hashKey, newKey, parseKeyFile } from '../../src/auth/key-file.ts';
import { bearerToken } from '../../src/auth/bearer.ts';
import { TokenBuckets } from '../../src/auth/rate-limiter.ts';
import { KeyStore } from '../../src/auth/key-store.ts';
import { adminGuard, inferenceGuard, singleKeyGuard } from '../../src/auth/guard.ts';
import { startAuth } from '../../src/auth/auth.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';

const line = (name: string, key: string) => `${name}:${hashKey(key).toString('hex')}`;

function memoryLog() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _e, done) {
      for (const t of String(chunk).split('\n')) if (t) lines.push(JSON.parse(t));
      done();
    },
  });
  return { log: createLogger('test', 'debug', sink), lines };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('key file', () => {
  it('reads name:sha256hex lines, skipping blanks and comments', () => {
    const parsed = parseKeyFile(
      `# keys\n\n${line('alice', 'a-key')}\n  ${line('bob.ci', 'b-key').toUpperCase().replace('BOB.CI', 'bob.ci')}  \n`,
    );
    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.keys.map((k) => k.name),
      ['alice', 'bob.ci'],
    );
    assert.deepEqual(parsed.keys[1]!.hash, hashKey('b-key'));
  });

  const bad: Array<[string, string, RegExp]> = [
    ['no colon', 'alice', /line 1: the name/],
    ['bad name', `a b:${'0'.repeat(64)}`, /line 1: the name/],
    ['short hash', 'alice:abcd', /line 1 \(alice\): after the ':' must come 64 hex digits/],
    ['raw key instead of a hash', 'alice:my-secret-key-value', /64 hex digits/],
    ['duplicate name', `${line('a', 'x')}\n${line('a', 'y')}`, /line 2: the name a appears twice/],
    [
      'duplicate key',
      `${line('a', 'x')}\n${line('b', 'x')}`,
      /line 2 \(b\): the same key is listed under another name/,
    ],
    ['empty', '\n# nothing\n', /no key in the file/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}`, () => {
      const parsed = parseKeyFile(text);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.problems.join('; '), message);
    });
  }

  it('never echoes a line in its problems (a pasted raw key must not reach the log)', () => {
    const parsed = parseKeyFile('alice:my-secret-key-value\nmy-other-secret');
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.doesNotMatch(parsed.problems.join(), /secret/);
  });

  it('newKey makes a 256-bit base64url key whose line parses back to its hash', () => {
    const a = newKey('ci');
    const b = newKey('ci');
    assert.notEqual(a.key, b.key);
    assert.match(a.key, /^[A-Za-z0-9_-]{43}$/);
    const parsed = parseKeyFile(a.line);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.keys[0]!.hash, hashKey(a.key));
    assert.equal(bearerToken(`Bearer ${a.key}`), a.key);
    assert.throws(() => newKey('bad name'), /key name/);
  });
});

describe('bearer header', () => {
  it('takes the token of a Bearer credential, scheme case-insensitive', () => {
    assert.equal(bearerToken('Bearer abc.DEF-_~+/=='), 'abc.DEF-_~+/==');
    assert.equal(bearerToken('bearer abc'), 'abc');
    for (const bad of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
      'Bearer a b',
      'Bearer a=b',
      `Bearer ${'a'.repeat(2000)}`,
    ]) {
      assert.equal(bearerToken(bad), undefined, String(bad));
    }
  });
});

describe('token buckets', () => {
  it('allows the burst at once, then the rate, per key', () => {
    const b = new TokenBuckets(2, 3);
    for (let i = 0; i < 3; i++) assert.deepEqual(b.take('a', 0), { ok: true });
    assert.deepEqual(b.take('a', 0), { ok: false, retryAfterS: 1 });
    assert.deepEqual(b.take('b', 0), { ok: true }, 'another key has its own bucket');
    assert.deepEqual(b.take('a', 499), { ok: false, retryAfterS: 1 });
    assert.deepEqual(b.take('a', 500), { ok: true }, 'one token back after 1/rate seconds');
    assert.deepEqual(b.take('a', 100_000), { ok: true });
    for (let i = 0; i < 2; i++) assert.ok(b.take('a', 100_000).ok, 'refill is capped at the burst');
    assert.equal(b.take('a', 100_000).ok, false);
  });

  it('says how many whole seconds until a token at slow rates', () => {
    const b = new TokenBuckets(0.1, 1);
    assert.ok(b.take('a', 0).ok);
    assert.deepEqual(b.take('a', 0), { ok: false, retryAfterS: 10 });
    assert.deepEqual(b.take('a', 5000), { ok: false, retryAfterS: 5 });
  });

  it('forgets keys that are gone', () => {
    const b = new TokenBuckets(1, 1);
    assert.ok(b.take('a', 0).ok);
    b.keepOnly(new Set(['b']));
    assert.ok(b.take('a', 0).ok, 'a fresh bucket');
    assert.throws(() => new TokenBuckets(0, 1));
  });
});

describe('key store', () => {
  it('finds keys by hash, refuses a bad file at start naming the variable', (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'keys');
    writeFileSync(file, `${line('alice', 'k-alice')}\n${line('bob', 'k-bob')}\n`);
    const { log } = memoryLog();
    const store = new KeyStore(file, log);
    t.after(() => store.close());
    assert.equal(store.find('k-bob')?.name, 'bob');
    assert.equal(store.find('k-alice')?.name, 'alice');
    assert.equal(store.find('k-carol'), undefined);
    assert.equal(store.find(''), undefined);
    writeFileSync(join(dir, 'bad'), 'alice:zz\n');
    assert.throws(() => new KeyStore(join(dir, 'bad'), log), /API_KEYS_FILE=.*bad: line 1/);
    assert.throws(
      () => new KeyStore(join(dir, 'missing'), log, 'ADMIN_KEYS_FILE'),
      /ADMIN_KEYS_FILE=.*cannot read the file \(ENOENT\)/,
    );
  });

  it('reload swaps the keys; a bad or missing file keeps the previous ones and logs why', (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'keys');
    writeFileSync(file, `${line('alice', 'k-alice')}\n`);
    const { log, lines } = memoryLog();
    const store = new KeyStore(file, log);
    t.after(() => store.close());
    const seen: string[][] = [];
    store.onReload((names) => seen.push([...names]));

    writeFileSync(file, `${line('bob', 'k-bob')}\n`);
    assert.equal(store.reload('SIGHUP'), true);
    assert.equal(store.find('k-alice'), undefined);
    assert.equal(store.find('k-bob')?.name, 'bob');
    assert.deepEqual(seen, [['bob']]);
    const ok = lines.find((l) => l.msg === 'API_KEYS_FILE: keys reloaded');
    assert.deepEqual([ok?.added, ok?.removed, ok?.reason], [['bob'], ['alice'], 'SIGHUP']);

    writeFileSync(file, `${line('bob', 'k-bob')}\nbob:`);
    assert.equal(store.reload('SIGHUP'), false);
    rmSync(file);
    assert.equal(store.reload('file changed'), false);
    assert.equal(store.find('k-bob')?.name, 'bob', 'still serving the last good keys');
    const refused = lines.filter((l) => l.msg === 'API_KEYS_FILE: reload refused; keeping the previous keys');
    assert.equal(refused.length, 2);
    assert.match(String(refused[0]!.problem), /line 2/);
    assert.match(String(refused[1]!.problem), /ENOENT/);
    assert.deepEqual(seen, [['bob']]);
  });

  it('reloads by itself when the file is rewritten or replaced by rename', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'keys');
    writeFileSync(file, `${line('alice', 'k-alice')}\n`);
    const { log } = memoryLog();
    const store = new KeyStore(file, log);
    t.after(() => store.close());
    store.watch();
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(cond());
    };
    writeFileSync(file, `${readFileSync(file, 'utf8')}${line('bob', 'k-bob')}\n`);
    await until(() => store.find('k-bob') !== undefined);
    writeFileSync(join(dir, 'keys.new'), `${line('carol', 'k-carol')}\n`);
    renameSync(join(dir, 'keys.new'), file);
    await until(() => store.find('k-carol') !== undefined);
    assert.equal(store.find('k-alice'), undefined);
  });
});

describe('guards', () => {
  it('inference: 401 without or with a wrong key, the key name when right, 429 past its bucket', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'keys'), `${line('alice', 'k-alice')}\n`);
    const store = new KeyStore(join(dir, 'keys'), memoryLog().log);
    t.after(() => store.close());
    const g = inferenceGuard(store, new TokenBuckets(1, 1));
    const missing = g.check(undefined, 0);
    assert.ok(!missing.ok && missing.code === 'UNAUTHORIZED');
    assert.equal(!missing.ok && missing.headers['WWW-Authenticate'], 'Bearer realm="image-classify"');
    const wrong = g.check('Bearer nope', 0);
    assert.ok(
      !wrong.ok && wrong.code === 'UNAUTHORIZED' && /error="invalid_token"/.test(wrong.headers['WWW-Authenticate']!),
    );
    assert.deepEqual(g.check('Bearer k-alice', 0), { ok: true, keyName: 'alice' });
    const limited = g.check('Bearer k-alice', 0);
    assert.ok(
      !limited.ok &&
        limited.code === 'RATE_LIMITED' &&
        limited.keyName === 'alice' &&
        limited.headers['Retry-After'] === '1',
    );
  });

  it('metadata: the same keys, its own bucket (KEY_METADATA_RATE_LIMIT_RPS), never the inference one', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'keys'), `${line('alice', 'k-alice')}\n`);
    const env = { API_KEYS_FILE: join(dir, 'keys'), KEY_RATE_LIMIT_RPS: '1', KEY_RATE_BURST: '1' };
    const off = startAuth(loadConfig(env), memoryLog().log);
    t.after(() => off.close());
    for (let i = 0; i < 50; i++) assert.ok(off.metadata.check('Bearer k-alice', 0).ok, 'metadata: no limit by default');
    assert.ok(off.inference.check('Bearer k-alice', 0).ok, 'the inference bucket is still full');
    assert.ok(!off.metadata.check('Bearer nope', 0).ok, 'metadata still needs a key');
    const limited = startAuth(
      loadConfig({
        ...env,
        KEY_METADATA_RATE_LIMIT_RPS: '1',
        KEY_METADATA_RATE_BURST: '3',
      }),
      memoryLog().log,
    );
    t.after(() => limited.close());
    const answers = Array.from({ length: 4 }, () => limited.metadata.check('Bearer k-alice', 0));
    assert.deepEqual(
      answers.map((a) => (a.ok ? 'ok' : a.code)),
      ['ok', 'ok', 'ok', 'RATE_LIMITED'],
    );
    assert.ok(limited.inference.check('Bearer k-alice', 0).ok, 'the inference bucket is its own');
  });

  it('admin: 403 for an inference-only key, 401 for an unknown one', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'keys'), `${line('alice', 'k-alice')}\n`);
    writeFileSync(join(dir, 'admins'), `${line('root', 'k-root')}\n`);
    const { log } = memoryLog();
    const inference = new KeyStore(join(dir, 'keys'), log);
    const admins = new KeyStore(join(dir, 'admins'), log, 'ADMIN_KEYS_FILE');
    t.after(() => {
      inference.close();
      admins.close();
    });
    const g = adminGuard(admins, inference);
    assert.deepEqual(g.check('Bearer k-root'), { ok: true, keyName: 'root' });
    const forbidden = g.check('Bearer k-alice');
    assert.ok(!forbidden.ok && forbidden.code === 'FORBIDDEN' && forbidden.keyName === 'alice');
    const unknown = g.check('Bearer k-x');
    assert.ok(!unknown.ok && unknown.code === 'UNAUTHORIZED');
  });

  it('metrics: one fixed key', () => {
    const g = singleKeyGuard('metrics-key-0123456789', 'metrics');
    assert.deepEqual(g.check('Bearer metrics-key-0123456789'), { ok: true, keyName: 'metrics' });
    assert.equal(g.check('Bearer metrics-key-012345678').ok, false);
    assert.equal(g.check(undefined).ok, false);
  });
});
