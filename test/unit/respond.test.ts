/** Answer (src/http/respond.ts) on the in-memory HTTP seam: headers, error shapes, one answer and one access line. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Answer, SERVED_BY } from '../../src/http/respond.ts';
import type { IncomingRequest, ServerResponse } from '../../src/http/types.ts';
import { FrontendMetrics } from '../../src/observability/metrics.ts';
import { MemoryServer } from '../helpers/memory-server.ts';
import { captureLogger } from '../helpers/processes.ts';

/** One request on a fresh server whose only route hands its Answer to `use`. */
function answerOn(use: (answer: Answer, res: ServerResponse) => void, headers: Record<string, string> = {}) {
  const { log, lines } = captureLogger();
  const metrics = new FrontendMetrics(() => 0);
  const http = new MemoryServer();
  http.route('GET', '/predict', (req: IncomingRequest, res) =>
    use(new Answer(res, req, '/predict', { log, metrics }), res),
  );
  const request = http.open({ url: '/predict', headers });
  return { request, lines, metrics };
}

describe('Answer', () => {
  it('writes JSON with the request id given, X-Served-By, and one access line with its fields', async () => {
    const { request, lines } = answerOn((a) => a.json(201, { hello: 'world' }, { images: 2 }), {
      'x-request-id': 'abc-1',
    });
    const res = (await request.response)!;
    assert.equal(res.status, 201);
    assert.deepEqual(res.json(), { hello: 'world' });
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['x-request-id'], 'abc-1');
    assert.equal(res.headers['x-served-by'], SERVED_BY);
    const access = lines.filter((l) => l.reqId === 'abc-1');
    assert.equal(access.length, 1);
    assert.equal(access[0]!.msg, 'request done');
    assert.equal(access[0]!.status, 201);
    assert.equal(access[0]!.images, 2);
  });

  it('replaces a request id that is not safe to log', async () => {
    const { request } = answerOn((a) => a.json(200, {}), { 'x-request-id': 'has spaces\nand a newline' });
    const id = (await request.response)!.headers['x-request-id']!;
    assert.match(id, /^[A-Za-z0-9._:-]{1,128}$/);
  });

  it("errors take the registry's status, message and Retry-After, in the service or the protocol shape", async () => {
    let res = (await answerOn((a) => a.error('OVERLOADED')).request.response)!;
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '1');
    assert.deepEqual(res.json(), {
      success: false,
      error: { code: 'OVERLOADED', message: 'The service is at capacity; retry later.' },
    });
    res = (await answerOn((a) => {
      a.errorShape = 'protocol';
      a.error('MODEL_NOT_FOUND', 'No model named "x".');
    }).request.response)!;
    assert.equal(res.status, 404);
    assert.equal(res.headers['retry-after'], undefined);
    assert.deepEqual(res.json(), { error: 'MODEL_NOT_FOUND: No model named "x".' });
  });

  it('answers once: a second answer writes nothing and logs nothing', async () => {
    let second: boolean | undefined;
    const { request, lines } = answerOn((a) => {
      a.send(200, 'text/plain', Buffer.from('first'));
      second = a.error('INTERNAL');
    });
    const res = (await request.response)!;
    assert.equal(res.text(), 'first');
    assert.equal(second, false);
    assert.equal(lines.filter((l) => 'status' in l).length, 1);
  });

  it('a client gone before the answer gets one 499 line, counted, and nothing is written', async () => {
    let answer!: Answer;
    const { request, lines, metrics } = answerOn((a) => (answer = a));
    request.abort();
    assert.equal(answer.done, true);
    assert.equal(answer.json(200, {}), false);
    const access = lines.filter((l) => 'status' in l);
    assert.deepEqual(
      access.map((l) => [l.msg, l.status]),
      [['request aborted', 499]],
    );
    const counted = (await metrics.registry.getSingleMetricAsString('classify_http_requests_total')).split('\n');
    assert.ok(
      counted.some((l) => l.includes('status="499"') && l.endsWith(' 1')),
      counted.join('\n'),
    );
  });

  it('asks the client to reconnect when closeConnection is set', async () => {
    const res = (await answerOn((a) => {
      a.closeConnection = true;
      a.error('SHUTTING_DOWN');
    }).request.response)!;
    assert.equal(res.closeConnection, true);
    assert.equal(res.status, 503);
  });
});
