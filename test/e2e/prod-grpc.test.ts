/**
 * gRPC in production for real: `npm run prod:up` with 2 front ends under PM2, each on its own gRPC port
 * (GRPC_PORT + FRONTEND_INDEX), nginx in front on NGINX_GRPC_PORT (grpc_pass, HTTP/2). A client generated from the
 * .proto classifies images and tensors through nginx; calls spread over both front ends; 200 calls with 16 in
 * flight are all answered; nginx's own errors (a message over the limit, a path it cannot decode, no front end)
 * reach the client as gRPC statuses. Torn down in after(), even when a test fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { deserializeBytes, InferenceClient, serializeBytes } from '../helpers/grpc-client.ts';
import { grpcLoad } from '../helpers/grpc-load.ts';
import { smallPng } from '../helpers/load.ts';
import { CHELSEA, type Deployment, jsonLines, makeDeployment, pm2, prodDown, prodUp } from './prod-helpers.ts';

const BODY_LIMIT = 1024 * 1024;

describe('prod behind nginx: the Open Inference Protocol over gRPC', () => {
  let d: Deployment;
  let client: InferenceClient;
  let chelsea: Buffer;
  const accessLog = () => jsonLines(join(d.varDir, 'nginx', 'logs', 'access.log'));
  const bytes = (images: Buffer[]) => ({
    model_name: 'default',
    inputs: [{ name: 'input', datatype: 'BYTES', shape: [images.length] }],
    raw_input_contents: [serializeBytes(images)],
  });

  before(async () => {
    d = await makeDeployment({ FRONTENDS: '2', MODEL_HOSTS: '1', BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    chelsea = await readFile(CHELSEA);
    const up = await prodUp(d);
    assert.match(up.out, new RegExp(`gRPC \\(Open Inference Protocol\\) on ${d.nginxGrpc}`));
    client = new InferenceClient(d.nginxGrpc);
  });

  after(async () => {
    client?.close();
    await prodDown(d);
  });

  it('every RPC through nginx; images and a tensor classified; the request id passed both ways', async () => {
    const live = await client.call('ServerLive', {});
    assert.deepEqual(live.message, { live: true }, live.details);
    assert.deepEqual((await client.call('ServerReady', {})).message, { ready: true });
    assert.equal((await client.call<{ name: string }>('ServerMetadata', {})).message?.name, 'image-classify-serving');
    assert.deepEqual((await client.call('ModelReady', { name: 'default' })).message, { ready: true });
    const meta = await client.call<{ inputs: unknown[] }>('ModelMetadata', { name: 'default' });
    assert.deepEqual(meta.message?.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 224, 224, 3] }]);

    const top = await client.call<{ raw_output_contents: Buffer[] }>(
      'ModelInfer',
      { ...bytes([chelsea]), outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 1 } } }] },
      { metadata: { 'x-request-id': 'e2e-grpc-1' } },
    );
    assert.equal(top.code, status.OK, top.details);
    assert.match(String(deserializeBytes(top.message!.raw_output_contents[0]!)[0]), /^0\.\d+:2:Neutral$/);
    assert.equal(top.headers.get('x-request-id')[0], 'e2e-grpc-1');
    assert.deepEqual(top.headers.get('x-served-by'), [], 'the front end id is logged, not shown to clients');
    const tensor = await client.call<{ outputs: Array<{ shape: number[] }> }>('ModelInfer', {
      model_name: 'default',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 224, 224, 3] }],
      raw_input_contents: [Buffer.alloc(224 * 224 * 3 * 4)],
    });
    assert.equal(tensor.code, status.OK, tensor.details);
    assert.deepEqual(tensor.message?.outputs[0]?.shape, [1, 5]);

    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && !line; i++) {
      line = (await accessLog()).find((l) => l.request_id === 'e2e-grpc-1');
      if (!line) await sleep(100);
    }
    assert.equal(line?.uri, '/inference.GRPCInferenceService/ModelInfer');
    assert.match(String(line?.served_by), /^fe-[0-9a-f]{8}$/);
  });

  it('200 calls with 16 in flight through nginx: all answered, spread over both front ends', async () => {
    const since = (await accessLog()).length;
    const result = await grpcLoad(client, await smallPng(64), 200, 16);
    assert.deepEqual(result.byStatus, { OK: 200 });
    let served = new Set<unknown>();
    for (let i = 0; i < 50 && served.size < 2; i++) {
      served = new Set((await accessLog()).slice(since).map((l) => l.served_by));
      if (served.size < 2) await sleep(100);
    }
    assert.equal(served.size, 2, `calls went to ${[...served].join(', ')}`);
  });

  it('each front end also answers on its own port (GRPC_PORT + FRONTEND_INDEX)', async () => {
    const ids = new Set<string>();
    for (const address of d.frontGrpc) {
      const direct = new InferenceClient(address);
      try {
        const o = await direct.call('ServerLive', {});
        assert.equal(o.code, status.OK, `${address}: ${o.details}`);
        ids.add(String(o.headers.get('x-served-by')[0]));
      } finally {
        direct.close();
      }
    }
    assert.equal(ids.size, 2, 'two different front ends');
  });

  it("nginx's own error for a path it cannot decode is a gRPC status too, not an HTML page", async () => {
    const session = connect(`http://${d.nginxGrpc}`);
    try {
      const headers = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
        const call = session.request({
          ':method': 'POST',
          ':path': '/%ZZ',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        call.on('response', resolve).on('error', reject);
        call.resume();
        call.end(Buffer.alloc(5));
      });
      assert.equal(headers['content-type'], 'application/grpc');
      // nginx refuses the path as a bad request (it used to fail its own error page and answer an HTML 500).
      assert.equal(headers['grpc-status'], String(status.INVALID_ARGUMENT));
      assert.match(String(headers['grpc-message']), /^BAD_REQUEST: /);
    } finally {
      session.close();
    }
  });

  it("nginx's own errors are gRPC statuses: a message over the limit, then no front end at all", async () => {
    const big = await client.call('ModelInfer', { ...bytes([Buffer.alloc(BODY_LIMIT + 1)]) });
    assert.equal(big.code, status.RESOURCE_EXHAUSTED, big.details);
    // nginx's page or the front end's refusal from the message's length prefix, whichever comes first: the same words.
    assert.equal(big.details, `BODY_TOO_LARGE: The request message is larger than ${BODY_LIMIT} bytes.`);

    const stopped = await pm2(d, ['stop', 'frontend']);
    assert.equal(stopped.code, 0, stopped.out);
    const gone = await client.call('ModelInfer', bytes([chelsea]));
    assert.equal(gone.code, status.UNAVAILABLE, gone.details);
    assert.match(gone.details, /^BAD_GATEWAY: /);
  });
});
