import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPolicy, isModelDir, scanModelVersions } from '../../src/model/versions.ts';
import { newestReady } from '../../src/wire/versions.ts';

function repo(t: { after(fn: () => void): void }, layout: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'versions-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(layout)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('version policy', () => {
  it('latest N, all, specific', () => {
    assert.deepEqual(applyPolicy([3, 1, 2], { latest: { num_versions: 1 } }), { selected: [3], missing: [] });
    assert.deepEqual(applyPolicy([3, 1, 2], { latest: { num_versions: 2 } }), { selected: [2, 3], missing: [] });
    assert.deepEqual(applyPolicy([3, 1, 2], { latest: { num_versions: 9 } }), { selected: [1, 2, 3], missing: [] });
    assert.deepEqual(applyPolicy([2, 1], { all: {} }), { selected: [1, 2], missing: [] });
    assert.deepEqual(applyPolicy([1, 2, 3], { specific: { versions: [3, 1, 7] } }), { selected: [1, 3], missing: [7] });
    assert.deepEqual(applyPolicy([], { latest: { num_versions: 1 } }), { selected: [], missing: [] });
  });

  it('the newest ready version takes unpinned traffic', () => {
    assert.equal(
      newestReady([
        { version: 1, state: 'ready' },
        { version: 2, state: 'loading' },
      ]),
      1,
    );
    assert.equal(
      newestReady([
        { version: 1, state: 'ready' },
        { version: 3, state: 'ready' },
        { version: 2, state: 'ready' },
      ]),
      3,
    );
    assert.equal(
      newestReady([
        { version: 2, state: 'failed', reason: 'x' },
        { version: 1, state: 'unloading' },
      ]),
      undefined,
    );
  });
});

describe('version directories', () => {
  it('a plain model directory is version 1', async (t) => {
    const root = repo(t, { 'm/metadata.json': '{}' });
    const v = await scanModelVersions(join(root, 'm'));
    assert.deepEqual(v.versions, [{ version: 1, dir: join(root, 'm') }]);
    assert.deepEqual(
      v.selected.map((s) => s.version),
      [1],
    );
    assert.ok(await isModelDir(join(root, 'm')));
  });

  it('numbered directories are versions; the default policy serves the newest; other entries are ignored', async (t) => {
    const root = repo(t, {
      'm/1/metadata.json': '{}',
      'm/2/metadata.json': '{}',
      'm/10/metadata.json': '{}',
      'm/01/x': '',
      'm/tmp/x': '',
      'm/3': 'a file',
    });
    const v = await scanModelVersions(join(root, 'm'));
    assert.deepEqual(
      v.versions.map((s) => s.version),
      [1, 2, 10],
    );
    assert.deepEqual(
      v.selected.map((s) => s.version),
      [10],
    );
    assert.ok(await isModelDir(join(root, 'm')));
    assert.equal(await isModelDir(join(root, 'm', 'tmp')), false);
  });

  it('config.json chooses the versions', async (t) => {
    const root = repo(t, {
      'm/1/metadata.json': '{}',
      'm/2/metadata.json': '{}',
      'm/3/metadata.json': '{}',
      'm/config.json': JSON.stringify({ version_policy: { specific: { versions: [1, 2, 5] } } }),
    });
    const v = await scanModelVersions(join(root, 'm'));
    assert.deepEqual(
      v.selected.map((s) => s.version),
      [1, 2],
    );
    assert.deepEqual(v.missing, [5]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['not JSON', '{', /config\.json: not JSON/],
    ['unknown policy', '{"version_policy": {"newest": {}}}', /config\.json: version_policy/],
    ['num_versions 0', '{"version_policy": {"latest": {"num_versions": 0}}}', /config\.json: version_policy/],
    ['unknown field', '{"versions": 2}', /config\.json: .*versions/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses a config.json with ${what}, naming the file`, async (t) => {
      const root = repo(t, { 'm/1/metadata.json': '{}', 'm/config.json': text });
      await assert.rejects(scanModelVersions(join(root, 'm')), message);
    });
  }
});

describe('version routing in the front end', async () => {
  const { chooseVersion, mergeReports } = await import('../../src/frontend/version-routing.ts');
  const reports = mergeReports([
    {
      cats: [
        { version: 1, state: 'ready' },
        { version: 2, state: 'ready' },
        { version: 3, state: 'failed', reason: 'bad shape' },
      ],
    },
    {
      cats: [
        { version: 2, state: 'loading' },
        { version: 4, state: 'loading' },
      ],
      dogs: [{ version: 1, state: 'ready' }],
    },
  ]);

  it('unpinned: the newest version ready on some host', () => {
    assert.deepEqual(chooseVersion(reports, 'cats'), { ok: true, version: 2, serving: 'cats@2' });
    assert.deepEqual(chooseVersion(reports, 'dogs'), { ok: true, version: 1, serving: 'dogs' });
  });

  it('unpinned, nothing ready yet: the newest loading version, for admission to refuse until a host has it', () => {
    const loadingOnly = mergeReports([{ cats: [{ version: 1, state: 'loading' }] }]);
    assert.deepEqual(chooseVersion(loadingOnly, 'cats'), { ok: true, version: 1, serving: 'cats' });
    const failedOnly = chooseVersion(mergeReports([{ cats: [{ version: 1, state: 'failed' }] }]), 'cats');
    assert.ok(!failedOnly.ok && failedOnly.code === 'NOT_READY');
  });

  it('pinned: that version when ready or loading (admission decides); 404 when failed (with the reason) or absent', () => {
    assert.deepEqual(chooseVersion(reports, 'cats', 1), { ok: true, version: 1, serving: 'cats' });
    assert.deepEqual(chooseVersion(reports, 'cats', 4), { ok: true, version: 4, serving: 'cats@4' });
    const failed = chooseVersion(reports, 'cats', 3);
    assert.ok(!failed.ok && failed.code === 'MODEL_NOT_FOUND' && /bad shape/.test(failed.message));
    const absent = chooseVersion(reports, 'cats', 9);
    assert.ok(!absent.ok && absent.code === 'MODEL_NOT_FOUND');
  });

  it('a model without version reports is version 1', () => {
    assert.deepEqual(chooseVersion(new Map(), 'x'), { ok: true, version: 1, serving: 'x' });
    assert.equal(chooseVersion(new Map(), 'x', 2).ok, false);
  });
});
