/**
 * nginx's gRPC server block as scripts/nginx-render.ts renders it (nginx/grpc.conf.template): where it listens, the
 * front ends' ports it spreads over, its body limit, and each of its own errors as the registry's gRPC status.
 * That nginx accepts it and behaves so: test/e2e/prod-grpc.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nginxSettingsFromEnv, renderNginx } from '../../scripts/nginx-render.ts';
import { grpcStatusOf } from '../../src/wire/grpc-status.ts';

const site = async (env: Record<string, string>) =>
  (await renderNginx(nginxSettingsFromEnv('/tmp/nginx-grpc-unit', { REDIS_PORT: '6390', ...env }))).site;

describe('nginx gRPC configuration', () => {
  it('listens with HTTP/2 on NGINX_GRPC_PORT and spreads over each front end on GRPC_PORT + index', async () => {
    const conf = await site({ FRONTENDS: '3', GRPC_PORT: '9100', NGINX_GRPC_PORT: '9000', BODY_LIMIT_BYTES: '2048' });
    assert.match(conf, /listen 127\.0\.0\.1:9000 http2;/);
    const servers = [...conf.matchAll(/server (127\.0\.0\.1:91\d\d) max_fails=0;/g)].map((m) => m[1]);
    assert.deepEqual(servers, ['127.0.0.1:9100', '127.0.0.1:9101', '127.0.0.1:9102']);
    assert.match(conf, /client_max_body_size 2053;/, 'BODY_LIMIT_BYTES + the 5-byte frame header');
    assert.match(conf, /grpc_pass grpc:\/\/classify_grpc_frontends;/);
    assert.match(conf, /grpc_hide_header x-served-by;/);
  });

  it("answers nginx's own errors as the registry's gRPC statuses, saying when to retry where REST does", async () => {
    const conf = await site({});
    const page = (status: number) =>
      new RegExp(`location = /_classify_grpc_errors/${status} \\{([^}]*)\\}`).exec(conf)?.[1] ?? '';
    const expected: Array<[number, number, RegExp]> = [
      [400, grpcStatusOf.BAD_REQUEST, /BAD_REQUEST: /],
      [408, grpcStatusOf.BODY_TIMEOUT, /BODY_TIMEOUT: /],
      [413, grpcStatusOf.BODY_TOO_LARGE, /BODY_TOO_LARGE: The request message is larger than 10485760 bytes\./],
      [429, grpcStatusOf.RATE_LIMITED, /RATE_LIMITED: /],
      [500, grpcStatusOf.INTERNAL, /INTERNAL: /],
      [502, grpcStatusOf.BAD_GATEWAY, /BAD_GATEWAY: /],
      [503, grpcStatusOf.NOT_READY, /NOT_READY: /],
      [504, grpcStatusOf.DEADLINE_EXCEEDED, /DEADLINE_EXCEEDED: /],
    ];
    for (const [http, grpc, message] of expected) {
      const body = page(http);
      assert.match(conf, new RegExp(`error_page ${http} /_classify_grpc_errors/${http};`));
      assert.match(body, new RegExp(`add_header grpc-status ${grpc} always;`), String(http));
      assert.match(body, message, String(http));
      assert.match(body, /return 204;/, `${http}: a trailers-only answer`);
      const retry = /add_header grpc-retry-pushback-ms 1000 always;/.test(body);
      assert.equal(retry, http === 429 || http === 503, `${http}: retry trailers`);
    }
  });

  it('serves no gRPC when GRPC_PORT=off, or remote front ends come without their gRPC ports', async () => {
    assert.doesNotMatch(await site({ GRPC_PORT: 'off' }), /grpc_pass/);
    assert.doesNotMatch(await site({ NGINX_UPSTREAMS: '10.0.0.1:8080' }), /grpc_pass/);
    const remote = await site({
      NGINX_UPSTREAMS: '10.0.0.1:8080',
      NGINX_GRPC_UPSTREAMS: '10.0.0.1:8001,10.0.0.2:8001',
    });
    assert.match(remote, /server 10\.0\.0\.1:8001 max_fails=0;\n\s+server 10\.0\.0\.2:8001 max_fails=0;/);
    await assert.rejects(site({ GRPC_PORT: '0' }), /GRPC_PORT=0 \(any free port\) cannot be proxied/);
  });
});
