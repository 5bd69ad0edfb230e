/**
 * Open Inference Protocol over gRPC, conformance: a real gRPC client built by @grpc/proto-loader from the .proto
 * (test/helpers/grpc-client.ts), against the real service. Every RPC; ModelInfer with raw_input_contents and with
 * contents, FP32 and BYTES (tritonclient's 4-byte little-endian lengths), the classification extension; answers
 * compared bit for bit with REST /v2's for the same input. Errors, limits, keys, ids and metrics:
 * grpc-errors.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { createPreprocessor, preprocessSettings } from '../../src/preprocess/preprocess-image.ts';
import { readMetadata } from '../../src/model/metadata.ts';
import { deserializeBytes, serializeBytes } from '../helpers/grpc-client.ts';
import { bytesInput, examples, ok, startGrpcFixture, type GrpcFixture } from '../helpers/grpc-service.ts';

describe('Open Inference Protocol (gRPC): the RPCs and their answers', () => {
  let svc: GrpcFixture;
  let chelsea: Buffer, coffee: Buffer, chelseaTensor: Float32Array;
  const infer = (request: object) => svc.infer(request);
  const fp32Input = { name: 'input', datatype: 'FP32', shape: [1, 224, 224, 3] };
  const fp32Raw = () => Buffer.from(chelseaTensor.buffer);

  before(async () => {
    svc = await startGrpcFixture();
    ({ chelsea, coffee } = await examples());
    chelseaTensor = new Float32Array(224 * 224 * 3);
    await createPreprocessor(await readMetadata('models/default'), preprocessSettings(svc.config))(
      chelsea,
      chelseaTensor,
      0,
    );
  });
  after(() => svc?.close());

  /** REST /v2 infer with the binary extension: the same tensor, its binary output bytes. */
  async function restBinary(input: object, binary: Buffer, output: object = {}): Promise<Buffer> {
    const head = Buffer.from(
      JSON.stringify({
        inputs: [{ ...input, parameters: { binary_data_size: binary.length } }],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true, ...output } }],
      }),
    );
    const res = await fetch(`${svc.url}/v2/models/default/infer`, {
      method: 'POST',
      body: Buffer.concat([head, binary]),
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length) },
    });
    assert.equal(res.status, 200);
    const all = Buffer.from(await res.arrayBuffer());
    return all.subarray(Number(res.headers.get('inference-header-content-length')));
  }

  it('ServerLive, ServerReady, ServerMetadata', async () => {
    assert.deepEqual(ok(await svc.client.call('ServerLive', {})), { live: true });
    assert.deepEqual(ok(await svc.client.call('ServerReady', {})), { ready: true });
    const meta = ok(await svc.client.call<{ name: string; extensions: string[] }>('ServerMetadata', {}));
    assert.equal(meta.name, 'image-classify-serving');
    assert.deepEqual(meta.extensions, ['binary_tensor_data', 'classification']);
  });

  it('ModelMetadata and ModelReady, with and without a version; NOT_FOUND for an unknown model or version', async () => {
    for (const [name, size] of [
      ['default', 224],
      ['inception_v3', 299],
    ] as const) {
      for (const version of ['', '1']) {
        const meta = ok(await svc.client.call<Record<string, unknown>>('ModelMetadata', { name, version }));
        assert.deepEqual(meta.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, size, size, 3] }]);
        assert.deepEqual(meta.outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 5] }]);
        assert.equal(meta.platform, 'onnxruntime_onnx');
        assert.deepEqual(meta.versions, ['1']);
        assert.deepEqual(ok(await svc.client.call('ModelReady', { name, version })), { ready: true });
      }
    }
    for (const [rpc, req] of [
      ['ModelMetadata', { name: 'nope' }],
      ['ModelMetadata', { name: 'default', version: '7' }],
      ['ModelMetadata', { name: 'default', version: 'x' }],
      ['ModelReady', { name: 'nope' }],
      ['ModelInfer', { model_name: 'nope', inputs: [bytesInput(1)], raw_input_contents: [serializeBytes([chelsea])] }],
      ['ModelInfer', { model_name: 'default', model_version: '7', inputs: [bytesInput(1)] }],
    ] as const) {
      const o = await svc.client.call(rpc, req);
      assert.equal(o.code, status.NOT_FOUND, `${rpc} ${JSON.stringify(req).slice(0, 80)}: ${o.details}`);
      assert.match(o.details, /^MODEL_NOT_FOUND: /);
    }
  });

  it('BYTES images in raw_input_contents and in bytes_contents: REST /v2 bits, id and version echoed', async () => {
    const raw = ok(
      await infer({
        model_name: 'default',
        id: 'g1',
        inputs: [bytesInput(2)],
        raw_input_contents: [serializeBytes([chelsea, coffee])],
      }),
    );
    assert.equal(raw.id, 'g1');
    assert.equal(raw.model_name, 'default');
    assert.equal(raw.model_version, '1');
    assert.deepEqual(raw.outputs, [
      { name: 'probabilities', datatype: 'FP32', shape: [2, 5], parameters: {}, contents: null },
    ]);
    assert.equal(raw.raw_output_contents.length, 1);
    const contents = ok(
      await infer({
        model_name: 'default',
        inputs: [{ ...bytesInput(2), contents: { bytes_contents: [chelsea, coffee] } }],
      }),
    );
    assert.equal(contents.id, '');
    const rest = await restBinary(bytesInput(2), serializeBytes([chelsea, coffee]));
    assert.ok(Buffer.from(raw.raw_output_contents[0]!).equals(rest), 'raw = REST, bit for bit');
    assert.ok(Buffer.from(contents.raw_output_contents[0]!).equals(rest), 'contents = REST, bit for bit');
    const p = new Float32Array(new Uint8Array(raw.raw_output_contents[0]!).slice().buffer);
    assert.equal(p.length, 10);
    assert.ok(Math.abs(p.subarray(0, 5).reduce((a, b) => a + b) - 1) < 1e-3, 'a probability row sums to 1');
  });

  it('an FP32 tensor, raw and as fp32_contents: the bits REST gives, and those of the same image as BYTES', async () => {
    const raw = ok(await infer({ model_name: 'default', inputs: [fp32Input], raw_input_contents: [fp32Raw()] }));
    const contents = ok(
      await infer({
        model_name: 'default',
        inputs: [{ ...fp32Input, contents: { fp32_contents: Array.from(chelseaTensor) } }],
      }),
    );
    const asImage = ok(
      await infer({ model_name: 'default', inputs: [bytesInput(1)], raw_input_contents: [serializeBytes([chelsea])] }),
    );
    const rest = await restBinary(fp32Input, fp32Raw());
    for (const [name, r] of [
      ['raw', raw],
      ['contents', contents],
      ['image', asImage],
    ] as const) {
      assert.deepEqual(r.outputs[0]!.shape, [1, 5]);
      assert.ok(Buffer.from(r.raw_output_contents[0]!).equals(rest), `${name} = REST, bit for bit`);
    }
  });

  it('the classification extension: BYTES [N, k] of "score:index:label", as REST answers it', async () => {
    const output = { name: 'probabilities', parameters: { classification: { int64_param: 3 } } };
    const r = ok(
      await infer({
        model_name: 'default',
        inputs: [bytesInput(2)],
        outputs: [output],
        raw_input_contents: [serializeBytes([chelsea, coffee])],
      }),
    );
    assert.deepEqual(r.outputs[0]!.shape, [2, 3]);
    assert.equal(r.outputs[0]!.datatype, 'BYTES');
    const labels = deserializeBytes(r.raw_output_contents[0]!).map(String);
    assert.equal(labels.length, 6);
    for (const l of labels) assert.match(l, /^[0-9.e-]+:[0-4]:(Drawing|Hentai|Neutral|Porn|Sexy)$/);
    const rest = await restBinary(bytesInput(2), serializeBytes([chelsea, coffee]), { classification: 3 });
    assert.ok(Buffer.from(r.raw_output_contents[0]!).equals(rest), 'same BYTES as REST');
    const pinned = ok(
      await infer({
        model_name: 'inception_v3',
        model_version: '1',
        inputs: [bytesInput(1)],
        outputs: [output],
        raw_input_contents: [serializeBytes([chelsea])],
      }),
    );
    assert.equal(pinned.model_version, '1');
    assert.deepEqual(pinned.outputs[0]!.shape, [1, 3]);
  });
});
