/**
 * gRPC under load, beside either HTTP server: 200 ModelInfer calls with 16 in flight over one connection, all
 * answered OK, with HTTP_SERVER=uws and with HTTP_SERVER=node (the gRPC server is the same; the front end it runs
 * in is not). Performance figures live in the benchmarks (BENCHMARKS.md), not here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smallPng } from '../helpers/load.ts';
import { grpcLoad } from '../helpers/grpc-load.ts';
import { ok, startGrpcFixture, type GrpcFixture } from '../helpers/grpc-service.ts';

for (const httpServer of ['uws', 'node'] as const) {
  describe(`gRPC load beside HTTP_SERVER=${httpServer}`, () => {
    let svc: GrpcFixture;
    let image: Buffer;

    before(async () => {
      svc = await startGrpcFixture({ HTTP_SERVER: httpServer, MODELS: 'default', MAX_BATCH: '8', LOG_LEVEL: 'warn' });
      image = await smallPng(64);
    });
    after(() => svc?.close());

    it('200 calls, 16 in flight: every one answered OK', async () => {
      const { byStatus } = await grpcLoad(svc.client, image, 200, 16);
      assert.deepEqual(byStatus, { OK: 200 });
      assert.equal(svc.frontend.httpServer, httpServer);
      // REST on the same front end still answers.
      assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
      ok(await svc.client.call('ServerReady', {}));
    });
  });
}
