/**
 * The error registry as gRPC statuses (src/wire/grpc-status.ts): the table, every code mapped, and the
 * trailers that say when to retry exactly where REST sends Retry-After.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { errorCodes, type ErrorCode } from '../../src/wire/errors.ts';
import { grpcStatusOf, httpEquivalent, retryTrailers } from '../../src/wire/grpc-status.ts';

describe('gRPC statuses', () => {
  it("the issue's table", () => {
    const table: Array<[ErrorCode, status]> = [
      ['MODEL_NOT_FOUND', status.NOT_FOUND],
      ['BAD_REQUEST', status.INVALID_ARGUMENT],
      ['TOO_MANY_IMAGES', status.INVALID_ARGUMENT],
      ['NOT_READY', status.UNAVAILABLE],
      ['OVERLOADED', status.UNAVAILABLE],
      ['SHUTTING_DOWN', status.UNAVAILABLE],
      ['DEADLINE_EXCEEDED', status.DEADLINE_EXCEEDED],
      ['BODY_TOO_LARGE', status.RESOURCE_EXHAUSTED],
      ['UNAUTHORIZED', status.UNAUTHENTICATED],
      ['FORBIDDEN', status.PERMISSION_DENIED],
    ];
    for (const [code, expected] of table) assert.equal(grpcStatusOf[code], expected, code);
  });

  it('maps every registry code, and retry trailers go with exactly the codes REST gives a Retry-After', () => {
    for (const code of Object.keys(errorCodes) as ErrorCode[]) {
      assert.notEqual(grpcStatusOf[code], undefined, code);
      assert.notEqual(grpcStatusOf[code], status.OK, code);
      const entry = errorCodes[code];
      const trailers = retryTrailers(code);
      if (!('retryAfterS' in entry)) assert.deepEqual(trailers, {}, code);
      else
        assert.deepEqual(
          trailers,
          { 'retry-after': String(entry.retryAfterS), 'grpc-retry-pushback-ms': String(entry.retryAfterS * 1000) },
          code,
        );
    }
    assert.deepEqual(retryTrailers('RATE_LIMITED', 7), { 'retry-after': '7', 'grpc-retry-pushback-ms': '7000' });
  });

  it("gives grpc-js's own statuses the HTTP status REST answers for the same outcome", () => {
    assert.equal(httpEquivalent(status.OK), 200);
    assert.equal(httpEquivalent(status.RESOURCE_EXHAUSTED), 413);
    assert.equal(httpEquivalent(status.DEADLINE_EXCEEDED), 504);
    assert.equal(httpEquivalent(status.CANCELLED), 499);
    assert.equal(httpEquivalent(status.INTERNAL), 500);
  });
});
