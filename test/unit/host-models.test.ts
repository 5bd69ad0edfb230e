/**
 * The order in which a host loads its models and announces them, with stand-in lanes whose loads finish when the
 * test says (deferred promises): the default model first and announced the moment it is warm, the others side by
 * side after it, so a slow model never delays a fast one; models kept unloaded are not loaded at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.ts';
import { HostModels } from '../../src/host/host-models.ts';
import type { ModelLane } from '../../src/host/model-lane.ts';
import type { ModelMetadata } from '../../src/model/metadata.ts';
import type { ModelRepository } from '../../src/model/repository.ts';
import { DEFAULT_POLICY } from '../../src/model/model-config.ts';
import { captureLogger } from '../helpers/processes.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // rejected before the host awaits it: not an unhandled rejection
  return { promise, resolve, reject };
}

/** A repository of stand-in models, each with a weights file of the given size. */
function setup(t: { after(fn: () => void): void }, sizes: Record<string, number>, holdBacklog = false) {
  const names = Object.keys(sizes);
  /** Resolves when the serving lanes have taken their backlog. */
  const backlog = deferred<void>();
  /** How many loads had started each time a serving lane was asked to take its backlog. */
  const backlogAsked: number[] = [];
  if (!holdBacklog) backlog.resolve();
  const root = mkdtempSync(join(tmpdir(), 'host-models-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const meta = { name: 'stand-in', labels: ['a', 'b'] } as unknown as ModelMetadata;
  const models = names.map((name) => {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'metadata.json'), '{}');
    writeFileSync(join(root, name, 'model.onnx'), Buffer.alloc(sizes[name]!));
    return { name, dir: join(root, name), meta, config: { version_policy: DEFAULT_POLICY } };
  });
  const repository: ModelRepository = {
    models,
    defaultModel: 'default',
    get: (name) => models.find((m) => m.name === name),
    notFound: (name) => `no model ${name}`,
  };
  const loads = new Map(names.map((n) => [n, deferred<void>()]));
  const started: string[] = [];
  /** What the host served when each model's load began. */
  const servedAtStart = new Map<string, string[]>();
  const announced: string[][] = [];
  const host = new HostModels({
    config: loadConfig({}),
    repository,
    log: captureLogger('fatal').log,
    startLane: async (model) => {
      started.push(model);
      servedAtStart.set(
        model,
        host.served().map((m) => m.name),
      );
      await loads.get(model)!.promise;
      return {
        model: models.find((m) => m.name === model)!,
        engine: { info: { engine: 'onnx', backend: 'cpu', format: 'onnx' }, loadMs: 1, warmupMs: 1 },
        inFlight: () => 0,
        backlogTaken: () => {
          backlogAsked.push(started.length);
          return backlog.promise.then(() => true);
        },
        start: () => {},
        finishQueued: async () => {},
        stopReading: async () => {},
        drain: async () => {},
        release: async () => {},
      } as unknown as ModelLane;
    },
    onChange: async () => {
      announced.push(host.served().map((m) => m.name));
    },
  });
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((r) => setImmediate(r));
  };
  /** Resolves once the host has announced a state in which `names` are served. */
  const served = (...expected: string[]) => until(() => announced.some((a) => expected.every((n) => a.includes(n))));
  return { host, loads, started, servedAtStart, announced, served, until, backlog, backlogAsked };
}

describe('the models of a host', () => {
  it('loads the default model first and announces it at once; the others after it, smallest first', async (t) => {
    const { host, loads, started, servedAtStart, served, until } = setup(t, {
      big: 20_000,
      default: 30_000,
      small: 10,
    });
    const all = host.loadAll([]);
    await until(() => started.length > 0);
    assert.deepEqual(started, ['default'], 'the default model first');
    loads.get('default')!.resolve();
    await served('default');
    await until(() => started.length === 2);
    assert.deepEqual(servedAtStart.get('small'), ['default'], 'the smaller model once the default one is served');
    loads.get('small')!.resolve();
    await served('default', 'small');
    await until(() => started.length === 3);
    assert.deepEqual(servedAtStart.get('big'), ['default', 'small'], 'the big one last, never before a small one');
    loads.get('big')!.resolve();
    await all;
    assert.deepEqual(started, ['default', 'small', 'big']);
    assert.deepEqual(
      host.served().map((m) => m.name),
      ['big', 'default', 'small'],
    );
  });

  it('loads the next model only once the serving ones have taken their backlog', async (t) => {
    const { host, loads, started, until, backlog, backlogAsked } = setup(t, { default: 1, other: 1 }, true);
    const all = host.loadAll([]);
    loads.get('default')!.resolve();
    loads.get('other')!.resolve();
    await until(() => backlogAsked.length > 0);
    assert.deepEqual(backlogAsked, [1], 'asked once the default model serves, before the next load');
    assert.deepEqual(started, ['default'], 'the default model answers its backlog first');
    backlog.resolve();
    await until(() => started.length === 2);
    await all;
  });

  it('skips the models kept unloaded, even all of them, and reports a model that cannot load', async (t) => {
    const { host, started } = setup(t, { default: 1, other: 1 });
    await host.loadAll(['default', 'other']);
    assert.deepEqual(started, []);
    assert.deepEqual(host.served(), []);
    assert.deepEqual(host.lanes(), []);

    const failing = setup(t, { default: 1, other: 1 });
    failing.loads.get('default')!.resolve();
    failing.loads.get('other')!.reject(new Error('bad weights'));
    await assert.rejects(
      failing.host.loadAll([]),
      /model other: no version could be loaded \(version 1: bad weights\)/,
    );
    assert.deepEqual(
      failing.host.served().map((m) => m.name),
      ['default'],
    );
  });
});
