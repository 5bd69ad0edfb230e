/**
 * A closing front end and its gRPC clients: calls in flight when it starts closing are answered, its clients are
 * told to go elsewhere (GOAWAY) and it stops listening, so the next call on the same client fails fast with
 * UNAVAILABLE instead of hanging; close() resolves once the calls it held are answered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { waitUntil } from '../helpers/processes.ts';
import { serializeBytes } from '../helpers/grpc-client.ts';
import { bytesInput, examples, startGrpcFixture, type GrpcFixture } from '../helpers/grpc-service.ts';

describe('gRPC while the front end closes', () => {
  let svc: GrpcFixture;
  let images: Buffer[];

  before(async () => {
    svc = await startGrpcFixture({ MODELS: 'default', LOG_LEVEL: 'warn' });
    const { chelsea, coffee } = await examples();
    images = Array.from({ length: 16 }, (_, i) => (i % 2 ? chelsea : coffee));
  });
  after(() => svc?.close());

  it('answers the calls in flight, then refuses new ones at once', async () => {
    const request = { model_name: 'default', inputs: [bytesInput(16)], raw_input_contents: [serializeBytes(images)] };
    const inFlight = svc.infer(request);
    await waitUntil(() => svc.frontend.pendingCount() > 0, 20_000, 'the call to be queued');
    const closing = svc.frontend.close();
    const answered = await inFlight;
    assert.equal(answered.code, status.OK, answered.details);
    assert.deepEqual(answered.message?.outputs[0]?.shape, [16, 5]);
    await closing;
    const started = Date.now();
    const after = await svc.infer(request, { deadlineMs: 10_000 });
    assert.equal(after.code, status.UNAVAILABLE, after.details);
    assert.ok(Date.now() - started < 5_000, `refused at once, not at the deadline (${Date.now() - started} ms)`);
  });
});
