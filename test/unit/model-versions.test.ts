/**
 * The version switch's order of steps, with stand-in lanes (the orchestration is pure logic; the real lanes are
 * exercised by test/integration/model-versions.test.ts): a new version is loaded beside the old one, the old
 * one is unloaded only once the new one is ready, a version that fails never replaces a ready one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelVersions, type VersionLane } from '../../src/host/model-versions.ts';
import type { VersionStatus } from '../../src/wire/versions.ts';
import { captureLogger } from '../helpers/processes.ts';

function setup(t: { after(fn: () => void): void }, broken = new Set<number>()) {
  const dir = mkdtempSync(join(tmpdir(), 'mv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const events: string[] = [];
  const states: string[] = [];
  const addVersion = (v: number) => {
    mkdirSync(join(dir, String(v)), { recursive: true });
    writeFileSync(join(dir, String(v), 'metadata.json'), '{}');
  };
  const show = (s: VersionStatus[]) => s.map((x) => `${x.version}:${x.state}`).join(' ');
  const versions = new ModelVersions({
    name: 'm',
    dir,
    switchGraceMs: 10,
    log: captureLogger('fatal').log,
    onChange: (s) => {
      states.push(show(s));
    },
    startLane: async ({ version }) => {
      events.push(`load ${version}`);
      if (broken.has(version)) throw new Error(`version ${version}: bad weights`);
      const lane: VersionLane = {
        start: () => void events.push(`start ${version}`),
        finishQueued: async () => void events.push(`finish queued ${version}`),
        stopReading: async () => void events.push(`stop ${version}`),
        drain: async () => void events.push(`drain ${version}`),
        release: async () => void events.push(`release ${version}`),
      };
      return lane;
    },
  });
  return { dir, versions, events, states, addVersion, show };
}

describe('model versions in a host', () => {
  it('a new version is loaded beside the old one; the old one goes only once the new one is ready', async (t) => {
    const { versions, events, states, addVersion, show } = setup(t);
    addVersion(1);
    assert.equal(show(await versions.sync()), '1:ready');
    events.length = 0;
    states.length = 0;
    addVersion(2);
    assert.equal(show(await versions.sync()), '2:ready');
    assert.deepEqual(events, ['load 2', 'start 2', 'finish queued 1', 'stop 1', 'drain 1', 'release 1']);
    // Unloading is reported twice: while still admitting (front ends move traffic), then after leaving.
    assert.deepEqual(states, [
      '1:ready 2:loading',
      '1:ready 2:ready',
      '1:unloading 2:ready',
      '1:unloading 2:ready',
      '2:ready',
      '2:ready',
    ]);
  });

  it('a version that fails to load is reported failed and the previous one keeps serving', async (t) => {
    const { versions, events, addVersion, show } = setup(t, new Set([2]));
    addVersion(1);
    await versions.sync();
    addVersion(2);
    const after = await versions.sync();
    assert.equal(show(after), '1:ready 2:failed');
    assert.equal(after[1]!.reason, 'version 2: bad weights');
    assert.ok(!events.includes('stop 1'));
    assert.equal(show(await versions.sync()), '1:ready 2:failed', 'a poll does not retry it');
    assert.equal(
      show(await versions.sync(true)),
      '1:ready 2:failed',
      'an explicit load retries it: still failing, still not replacing',
    );
  });

  it('rollback: removing the newest version brings the previous one back first', async (t) => {
    const { dir, versions, events, addVersion, show } = setup(t);
    addVersion(1);
    addVersion(2);
    await versions.sync();
    events.length = 0;
    rmSync(join(dir, '2'), { recursive: true });
    assert.equal(show(await versions.sync()), '1:ready');
    assert.deepEqual(events, ['load 1', 'start 1', 'finish queued 2', 'stop 2', 'drain 2', 'release 2']);
  });

  it('a policy of the latest 2 keeps two versions; unloadAll drains every one', async (t) => {
    const { dir, versions, events, addVersion, show } = setup(t);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ version_policy: { latest: { num_versions: 2 } } }));
    for (const v of [1, 2, 3]) addVersion(v);
    assert.equal(show(await versions.sync()), '2:ready 3:ready');
    assert.equal(show(await versions.unloadAll()), '');
    assert.ok(events.includes('drain 2') && events.includes('release 3'));
  });
});
