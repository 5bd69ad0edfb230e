/** Round trips of the contracts between processes and threads defined in src/wire/ (besides the envelope). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bufferBytes, slotAt, slotOffset, slotView, type BatchSlotLayout } from '../../src/wire/batch-slots.ts';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  readinessEntries,
  type HostHeartbeat,
  type ServedModel,
} from '../../src/wire/heartbeat.ts';
import { keysFor } from '../../src/wire/keys.ts';
import { decodeSnapshot, encodeSnapshot, metricsKeys } from '../../src/wire/metrics-snapshot.ts';

const served = (name: string, height: number): ServedModel => ({
  name,
  title: `nsfwjs-${name}`,
  engine: 'onnx',
  backend: 'cpu',
  format: 'onnx',
  maxBatch: 8,
  labels: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'],
  input: { height, width: height, channels: 3, layout: 'NHWC' },
  preprocessing: { channelOrder: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  output: 'probabilities',
});
const heartbeat: HostHeartbeat = {
  startedAt: 1_700_000_000_000,
  heartbeatAt: 1_700_000_001_234,
  models: [served('default', 224), served('inception_v3', 299)],
  versions: { default: [{ version: 1, state: 'ready' }], inception_v3: [{ version: 1, state: 'ready' }] },
};

describe('heartbeat hash', () => {
  it('decodes what it encodes, every field a string on the wire', () => {
    const wire = encodeHeartbeat(heartbeat);
    for (const value of Object.values(wire)) assert.equal(typeof value, 'string');
    assert.deepEqual(decodeHeartbeat(wire), heartbeat);
  });

  it('treats an empty or expired hash or a torn model list as no host', () => {
    assert.equal(decodeHeartbeat({}), undefined);
    assert.equal(decodeHeartbeat(null), undefined);
    assert.equal(decodeHeartbeat({ ...encodeHeartbeat(heartbeat), models: '[{"name":' }), undefined);
  });

  it('keeps a host that serves nothing yet (its first model loading), with its versions', () => {
    const loading = { ...heartbeat, models: [], versions: { default: [{ version: 1, state: 'loading' as const }] } };
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat(loading)), loading);
  });

  it('reads a report without versions (an older host) as each served version ready', () => {
    const { versions: _, ...wire } = encodeHeartbeat(heartbeat);
    assert.deepEqual(decodeHeartbeat(wire)?.versions, heartbeat.versions);
  });

  it('lists a host on /readyz once per model, by its identity fields, as strings', () => {
    assert.deepEqual(
      readinessEntries('h1', heartbeat),
      ['default', 'inception_v3'].map((model) => ({
        id: 'h1',
        model,
        engine: 'onnx',
        backend: 'cpu',
        format: 'onnx',
        maxBatch: '8',
        startedAt: '1700000000000',
        heartbeatAt: '1700000001234',
      })),
    );
  });
});

describe('metrics snapshots', () => {
  it('decodes what it encodes', () => {
    const snapshot = [{ name: 'classify_requests_total', type: 'counter', values: [{ value: 3, labels: {} }] }];
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
  });

  it('skips missing, torn and foreign values', () => {
    for (const raw of [null, undefined, '', '[{"name":', '{"a":1}', '[1,2]'])
      assert.equal(decodeSnapshot(raw), undefined);
  });

  it("keeps its keys in the deployment registry's slot", () => {
    const k = metricsKeys(keysFor('cls'));
    assert.equal(k.procs, '{cls}:metrics:procs');
    assert.equal(k.snapshot('fe-1'), '{cls}:metrics:fe-1');
  });
});

describe('batch slots', () => {
  const layout: BatchSlotLayout = { slotsPerBuffer: 4, slotElements: 224 * 224 * 3 };

  it('tiles a buffer exactly: every slot maps back to itself and the last one ends at the buffer end', () => {
    for (let slot = 0; slot < layout.slotsPerBuffer; slot++) {
      const start = slotOffset(layout, slot);
      assert.equal(slotAt(layout, start), slot);
      assert.equal(slotAt(layout, start + layout.slotElements - 1), slot);
    }
    const last = slotOffset(layout, layout.slotsPerBuffer - 1) + layout.slotElements;
    assert.equal(last * Float32Array.BYTES_PER_ELEMENT, bufferBytes(layout));
  });

  it('what a writer puts in a slot is what the batch reader sees at that row', () => {
    const buffer = new SharedArrayBuffer(bufferBytes(layout));
    slotView(buffer, layout, 2).fill(7);
    const batch = new Float32Array(buffer);
    assert.equal(batch[2 * layout.slotElements], 7);
    assert.equal(batch[3 * layout.slotElements - 1], 7);
    assert.equal(batch[2 * layout.slotElements - 1], 0);
    assert.equal(batch[3 * layout.slotElements], 0);
  });

  it('refuses a slot outside the buffer', () => {
    assert.throws(() => slotOffset(layout, 4), RangeError);
    assert.throws(() => slotOffset(layout, -1), RangeError);
  });
});
