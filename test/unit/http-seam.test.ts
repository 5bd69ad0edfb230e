/** The HTTP seam's pure parts: route matching in uWS's order, and the uWS loader's refusal when no binary loads. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/http/router.ts';
import type { Handler } from '../../src/http/types.ts';
import { loadUws, UwsUnavailableError } from '../../src/http/uws-binary.ts';
import { uwsShouldLoad } from '../helpers/uws-expected.ts';

describe('Router', () => {
  const named = (name: string): Handler & { label: string } => Object.assign(() => {}, { label: name });
  const router = new Router();
  router.add('POST', '/predict', named('predict'));
  router.add('GET', '/v2/models/:name', named('model'));
  router.add('GET', '/v2/models/:name/ready', named('model-ready'));
  router.add('GET', '/v2/models/default', named('default'));
  router.add('ANY', '/predict', named('predict-any'));
  router.add('ANY', '/*', named('fallback'));
  const hit = (method: string, path: string) => {
    const found = router.match(method, path);
    return found && { label: (found.handler as Handler & { label: string }).label, params: found.params };
  };

  it('prefers the own method over ANY, and an exact path over :name over /*', () => {
    assert.equal(hit('POST', '/predict')?.label, 'predict');
    assert.equal(hit('GET', '/predict')?.label, 'predict-any');
    assert.equal(hit('GET', '/v2/models/default')?.label, 'default');
    assert.deepEqual(hit('GET', '/v2/models/resnet'), { label: 'model', params: { name: 'resnet' } });
    assert.deepEqual(hit('GET', '/v2/models/resnet/ready'), { label: 'model-ready', params: { name: 'resnet' } });
    assert.equal(hit('GET', '/v2/models/')?.label, 'fallback', 'an empty :name segment does not match');
    assert.equal(hit('DELETE', '/nope/deeper')?.label, 'fallback');
    assert.equal(hit('GET', '/')?.label, 'fallback');
  });
});

describe('loadUws', () => {
  it('loads the binary for this Node, or refuses (naming Node, glibc and both ways out) only where none fits', () => {
    const abi = process.versions.modules;
    const fits = uwsShouldLoad();
    let loaded: ReturnType<typeof loadUws> | undefined;
    try {
      loaded = loadUws();
    } catch (err) {
      assert.ok(err instanceof UwsUnavailableError, String(err));
      assert.ok(!fits, `Node ABI ${abi} on this glibc has a binary, yet: ${err.message}`);
      assert.match(err.message, new RegExp(`Node ${process.version.replace(/\./g, '\\.')}`));
      assert.match(err.message, /glibc/);
      assert.match(err.message, /HTTP_SERVER=node/);
      return;
    }
    assert.ok(fits, `loaded ${loaded.binary} where no binary should fit`);
    assert.match(loaded.binary, new RegExp(`_${abi}\\.node$`), 'the native binary of this Node ABI');
    assert.match(loaded.binary, abi === '115' ? /uWebSockets\.js/ : /uws-20\.57/);
    assert.equal(typeof loaded.uws.App, 'function');
  });

  it('refuses an ABI with no binary, the same way', () => {
    assert.throws(
      () => loadUws('1'),
      (err: Error) =>
        err instanceof UwsUnavailableError && /HTTP_SERVER=node/.test(err.message) && /glibc/.test(err.message),
    );
  });
});
