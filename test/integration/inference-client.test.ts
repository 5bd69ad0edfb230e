/** The inference thread's client with the real default model: concurrent stats calls, and calls after close. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { imageElements, readMetadata } from '../../src/model/metadata.ts';
import { InferenceClient } from '../../src/host/inference-client.ts';
import { bufferBytes } from '../../src/wire/batch-slots.ts';

const MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));

describe('InferenceClient', () => {
  let client: InferenceClient;
  before(async () => {
    const meta = await readMetadata(MODEL_DIR);
    const buffer = new SharedArrayBuffer(bufferBytes({ slotsPerBuffer: 1, slotElements: imageElements(meta) }));
    client = new InferenceClient({
      modelDir: MODEL_DIR,
      engine: 'auto',
      intraOpThreads: 1,
      tfjsBackend: '',
      buffers: [buffer],
      maxBatch: 1,
    });
    await client.ready;
  });
  after(() => client?.close());

  it('answers every concurrent liveTensors() caller', async () => {
    const counts = await Promise.all([client.liveTensors(), client.liveTensors(), client.liveTensors()]);
    // Each caller gets its own answer, in order; with nothing running between them, all are the same count.
    assert.equal(counts.length, 3);
    assert.ok(Number.isInteger(counts[0]) && counts[0]! >= 0, `a tensor count: ${counts[0]}`);
    assert.deepEqual(counts, [counts[0], counts[0], counts[0]]);
    assert.equal(await client.liveTensors(), counts[0], 'the count holds still while idle');
  });

  it('refuses liveTensors() once closed instead of leaving the caller waiting', async () => {
    const pending = client.liveTensors();
    await client.close();
    await assert.rejects(
      pending.then(() => client.liveTensors()),
      /closed/,
    );
  });
});
