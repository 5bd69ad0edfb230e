/** HTTP_SERVER's choice as logic, with a uWS loader that fails as it does on a glibc too old for its binary. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpServer } from '../../src/http/select.ts';
import { UwsUnavailableError } from '../../src/http/uws-binary.ts';

const unavailable = () => {
  throw new UwsUnavailableError(
    'uWebSockets.js has no native binary that loads on Node v24.0.0 (...)',
    'its binary for Node v24.0.0 needs glibc 2.38, this system has 2.36',
    'run on glibc 2.38 or newer (Debian 13, Ubuntu 24.04), or the container image (docs/deployment.md)',
  );
};

const options = { linger: { maxBytes: 1024, timeoutMs: 1000, idleMs: 100 }, onHandlerError: () => {} };

describe('HTTP_SERVER', () => {
  it('auto: node:http where uWS does not load, with one line saying why and how to get uWS', () => {
    const lines: string[] = [];
    const http = createHttpServer('auto', options, (l) => lines.push(l), unavailable);
    assert.equal(http.kind, 'node');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /uWebSockets\.js does not load here \(its binary for Node v24\.0\.0 needs glibc 2\.38/);
    assert.match(lines[0]!, /for uWS, run on glibc 2\.38 or newer .*or the container image/);
    http.closeAll();
  });

  it('uws: strict, the loader error as it is', () => {
    assert.throws(() => createHttpServer('uws', options, () => {}, unavailable), UwsUnavailableError);
  });

  it('auto: any other failure of the loader is not hidden', () => {
    const broken = () => {
      throw new TypeError('bug');
    };
    assert.throws(() => createHttpServer('auto', options, () => {}, broken), TypeError);
  });
});
