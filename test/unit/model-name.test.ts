/** MODEL_NAME: the name a MODEL_DIR model serves under (KServe passes its InferenceService's), validated as a name. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.ts';
import { openRepository } from '../../src/model/repository.ts';

describe('MODEL_NAME', () => {
  it("names MODEL_DIR's model; unset, the directory's name does", async () => {
    const named = await openRepository({ MODEL_REPOSITORY: 'models', MODEL_DIR: 'models/default', MODEL_NAME: 'nsfw' });
    assert.deepEqual(
      named.models.map((m) => m.name),
      ['nsfw'],
    );
    assert.equal(named.defaultModel, 'nsfw');
    const plain = await openRepository({ MODEL_REPOSITORY: 'models', MODEL_DIR: 'models/default' });
    assert.deepEqual(
      plain.models.map((m) => m.name),
      ['default'],
    );
  });

  it('refuses what cannot be a model name', () => {
    assert.throws(() => loadConfig({ MODEL_NAME: 'a/b' }), /MODEL_NAME="a\/b": a model name/);
  });
});
