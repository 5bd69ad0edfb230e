/**
 * Which HTTP server a front-end process runs, as a real process: HTTP_SERVER=node always serves with node:http;
 * unset (auto) serves with uWS where its binary loads, else with node:http and one warning line naming why and
 * how to get uWS; HTTP_SERVER=uws refuses to start where uWS does not load, naming both ways out. The start-up
 * log and /v1/models name the server. (npm run test:node-matrix runs this on Node 24, where uWS needs glibc 2.38.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import { uwsShouldLoad } from '../helpers/uws-expected.ts';
import { killAll, spawnService } from '../helpers/processes.ts';

describe('HTTP_SERVER choice', () => {
  let redis: EmbeddedRedis;
  before(async () => {
    redis = await startEmbeddedRedis();
  });
  after(async () => {
    await killAll();
    await redis?.stop();
  });

  const start = async (httpServer: string) => {
    const child = spawnService(`frontend-${httpServer || 'unset'}`, 'src/frontend/main.ts', {
      REDIS_URL: redis.url,
      PORT: '0',
      KEY_PREFIX: 'choice',
      HTTP_SERVER: httpServer,
    });
    return child;
  };

  it('HTTP_SERVER=node serves with node:http and says so', async () => {
    const child = await start('node');
    const line = await child.waitForLog(/^front end listening$/);
    assert.equal(line.httpServer, 'node');
    // /readyz shows strangers the status only; /v1/models names the server kind.
    const models = await (await fetch(`http://127.0.0.1:${line.port as number}/v1/models`)).json();
    assert.equal(models.httpServer, 'node');
    child.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  });

  it('HTTP_SERVER=node: several front ends share one port where Node has reusePort (>= 22.12), as PM2 runs them', async () => {
    const first = await start('node');
    const port = String((await first.waitForLog(/^front end listening$/)).port);
    const second = spawnService('frontend-node-2', 'src/frontend/main.ts', {
      REDIS_URL: redis.url,
      PORT: port,
      KEY_PREFIX: 'choice',
      HTTP_SERVER: 'node',
    });
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    if (major > 22 || (major === 22 && minor >= 12)) {
      assert.equal((await second.waitForLog(/^front end listening$/)).port, Number(port));
      // Both answer: the kernel spreads new connections over the two listeners (X-Served-By names the process).
      const servedBy = new Set<string | null>();
      for (let i = 0; i < 200 && servedBy.size < 2; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'close' } });
        servedBy.add(res.headers.get('x-served-by'));
      }
      assert.equal(servedBy.size, 2, `one port, two front ends answering: ${[...servedBy].join(', ')}`);
      second.kill('SIGTERM');
      assert.equal(await second.exited, 0);
    } else {
      assert.equal(await second.exited, 1, 'Node 20 has no reusePort: the second listener is refused');
      assert.match(second.text.join('\n'), /cannot listen/);
    }
    first.kill('SIGTERM');
    assert.equal(await first.exited, 0);
  });

  it(`HTTP_SERVER unset (auto): uWS where it loads, else node:http with one warning line (here: ${uwsShouldLoad() ? 'loads' : 'does not load'})`, async () => {
    const child = await start('');
    const line = await child.waitForLog(/^front end listening$/);
    const warnings = child.logs.filter((l) => l.level >= 40);
    if (uwsShouldLoad()) {
      assert.equal(line.httpServer, 'uws');
      assert.match(String(line.httpServerDetail), /\.node$/);
      assert.deepEqual(warnings, []);
    } else {
      assert.equal(line.httpServer, 'node');
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(
        warnings[0]!.msg,
        /^serving with node:http: uWebSockets\.js does not load here \(.*glibc.*\); for uWS, .*container image/,
      );
    }
    child.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  });

  it(`HTTP_SERVER=uws: uWS, or a refusal naming both ways out (here: ${uwsShouldLoad() ? 'loads' : 'does not load'})`, async () => {
    const child = await start('uws');
    if (uwsShouldLoad()) {
      const line = await child.waitForLog(/^front end listening$/);
      assert.equal(line.httpServer, 'uws');
      child.kill('SIGTERM');
      assert.equal(await child.exited, 0);
    } else {
      assert.equal(await child.exited, 1);
      const text = child.text.join('\n');
      assert.match(text, /start-up failed: uWebSockets\.js has no native binary/);
      assert.match(text, new RegExp(`Node ${process.version.replace(/\./g, '\\.')}`));
      assert.match(text, /glibc/);
      assert.match(text, /HTTP_SERVER=node/);
      assert.ok(!child.logs.some((l) => l.msg === 'front end listening'), 'never listens');
    }
  });
});
