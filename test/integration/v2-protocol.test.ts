/**
 * Open Inference Protocol (KServe V2) conformance: requests built from the specification (inference_rest.md and
 * Triton's binary data and classification extensions), not from our code; every JSON response validated with
 * ajv against the protocol's own schemas (vendored in test/protocol/). Two models of different input sizes.
 * Also: the same answers everywhere — an FP32 tensor gives exactly the probabilities /predict gives for the same
 * preprocessed image, and an encoded image gives the same top-1 through /predict and /v2 infer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { createPreprocessor, preprocessSettings } from '../../src/preprocess/preprocess-image.ts';
import { readMetadata } from '../../src/model/metadata.ts';
import { EXAMPLES, postImage, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';
import { ensureExampleModels } from '../../scripts/lib/example-models.ts';
import { binaryRequest, bytesTensor } from '../helpers/oip.ts';

const schemas = JSON.parse(
  await readFile(new URL('../protocol/open-inference-rest.schemas.json', import.meta.url), 'utf8'),
);
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema({ $id: 'oip', components: schemas.components });
/** The binary extension omits `data` from outputs sent as binary: the same schema without that requirement. */
ajv.addSchema({
  $id: 'oip-binary',
  components: {
    schemas: {
      ...schemas.components.schemas,
      response_output: { ...schemas.components.schemas.response_output, required: ['name', 'shape', 'datatype'] },
    },
  },
});

function conforms(body: unknown, schema: string, doc = 'oip'): void {
  const validate = ajv.getSchema(`${doc}#/components/schemas/${schema}`)!;
  assert.ok(validate(body), `${schema}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`);
}

type Prediction = { label: string; probability: number };
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

/** Splits a binary response into its JSON header and its binary part. */
async function readBinaryResponse(res: Response): Promise<{ json: Record<string, unknown>; binary: Buffer }> {
  const all = Buffer.from(await res.arrayBuffer());
  const n = Number(res.headers.get('inference-header-content-length'));
  assert.ok(Number.isInteger(n) && n > 0 && n <= all.length, 'Inference-Header-Content-Length gives the JSON length');
  return { json: JSON.parse(all.subarray(0, n).toString('utf8')), binary: all.subarray(n) };
}

describe('Open Inference Protocol (REST)', () => {
  let svc: TestService;
  let chelsea: Buffer, coffee: Buffer;
  let chelseaTensor: Float32Array;
  const infer = (model: string, init: { body: string | Buffer; headers?: Record<string, string> }) =>
    fetch(`${svc.url}/v2/models/${model}/infer`, {
      method: 'POST',
      body: init.body as unknown as BodyInit,
      headers: init.headers ?? { 'Content-Type': 'application/json' },
    });

  before(async () => {
    svc = await startTestService({
      MODEL_REPOSITORY: await ensureExampleModels(),
      MODELS: 'default,inception_v3',
      MAX_BATCH: '4',
    });
    chelsea = await readFile(new URL('chelsea.png', EXAMPLES));
    coffee = await readFile(new URL('coffee.png', EXAMPLES));
    // The model-ready input /predict's preprocessing makes of chelsea.png, by the service's own preprocessor.
    const meta = await readMetadata('models/default');
    chelseaTensor = new Float32Array(224 * 224 * 3);
    await createPreprocessor(meta, preprocessSettings(svc.config))(chelsea, chelseaTensor, 0);
  });
  after(() => svc?.close());

  it('server metadata, liveness and readiness', async () => {
    const meta = await fetch(`${svc.url}/v2`);
    assert.equal(meta.status, 200);
    const body = await meta.json();
    conforms(body, 'metadata_server_response');
    assert.ok(body.extensions.includes('binary_tensor_data') && body.extensions.includes('classification'));
    assert.equal((await fetch(`${svc.url}/v2/health/live`)).status, 200);
    assert.equal((await fetch(`${svc.url}/v2/health/ready`)).status, 200);
  });

  it('model metadata: the input and output with -1 for the batch, the platform naming the engine', async () => {
    for (const [model, size] of [
      ['default', 224],
      ['inception_v3', 299],
    ] as const) {
      for (const path of [`/v2/models/${model}`, `/v2/models/${model}/versions/1`]) {
        const res = await fetch(`${svc.url}${path}`);
        assert.equal(res.status, 200, path);
        const body = await res.json();
        conforms(body, 'metadata_model_response');
        assert.deepEqual(body.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, size, size, 3] }]);
        assert.deepEqual(body.outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 5] }]);
        assert.equal(body.platform, 'onnxruntime_onnx');
        assert.equal(body.properties.engine, 'onnx');
      }
      const ready = await fetch(`${svc.url}/v2/models/${model}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { name: model, ready: true });
    }
    const missing = await fetch(`${svc.url}/v2/models/nope`);
    assert.equal(missing.status, 404);
    conforms(await missing.json(), 'metadata_model_error_response');
    assert.equal((await fetch(`${svc.url}/v2/models/default/versions/7`)).status, 404);
  });

  it('an FP32 tensor (nested JSON data) gives exactly the probabilities /predict gives for the same image', async () => {
    const viaPredict = (await (await postImage(svc.url, chelsea, { query: '?topk=5' })).json())
      .predictions as Prediction[];
    // Nested as [1][224][224][3], the tensor's natural shape.
    const rows = Array.from({ length: 224 }, (_, y) =>
      Array.from({ length: 224 }, (_, x) =>
        Array.from(chelseaTensor.subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3)),
      ),
    );
    const res = await infer('default', {
      body: JSON.stringify({
        id: 'q1',
        inputs: [{ name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: [rows] }],
      }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    conforms(body, 'inference_response');
    assert.equal(body.model_name, 'default');
    assert.equal(body.id, 'q1');
    const [out] = body.outputs;
    assert.deepEqual([out.name, out.datatype, out.shape], ['probabilities', 'FP32', [1, 5]]);
    for (const p of viaPredict) assert.equal(out.data[LABELS.indexOf(p.label)], p.probability, p.label);
  });

  it('a binary FP32 tensor with binary output gives the same probabilities as flat JSON data', async () => {
    const flat = await (
      await infer('default', {
        body: JSON.stringify({
          inputs: [{ name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: Array.from(chelseaTensor) }],
        }),
      })
    ).json();
    const tensorBytes = Buffer.from(chelseaTensor.buffer, chelseaTensor.byteOffset, chelseaTensor.byteLength);
    const req = binaryRequest(
      {
        inputs: [
          {
            name: 'input',
            shape: [1, 224, 224, 3],
            datatype: 'FP32',
            parameters: { binary_data_size: tensorBytes.length },
          },
        ],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
      },
      tensorBytes,
    );
    const res = await infer('default', req);
    assert.equal(res.status, 200);
    const { json, binary } = await readBinaryResponse(res);
    conforms(json, 'inference_response', 'oip-binary');
    const outputs = json.outputs as Array<{
      shape: number[];
      datatype: string;
      parameters: { binary_data_size: number };
    }>;
    assert.equal(outputs[0]!.parameters.binary_data_size, 20);
    const probabilities = Array.from(
      new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.length)),
    );
    assert.deepEqual(probabilities, flat.outputs[0].data);
  });

  it('BYTES images through the binary extension: same top-1 as /predict, in order, on two models of different sizes', async () => {
    const images = [chelsea, coffee];
    const topOne = async (image: Buffer, model: string) =>
      ((await (await postImage(svc.url, image, { query: `?model=${model}` })).json()).predictions as Prediction[])[0]!
        .label;
    for (const model of ['default', 'inception_v3']) {
      const binary = bytesTensor(images);
      const res = await infer(
        model,
        binaryRequest(
          {
            inputs: [{ name: 'input', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: binary.length } }],
          },
          binary,
        ),
      );
      assert.equal(res.status, 200, model);
      const body = await res.json();
      conforms(body, 'inference_response');
      const out = body.outputs[0];
      assert.deepEqual(out.shape, [2, 5]);
      for (let i = 0; i < images.length; i++) {
        const row = out.data.slice(i * 5, i * 5 + 5) as number[];
        assert.equal(LABELS[row.indexOf(Math.max(...row))], await topOne(images[i]!, model), `${model} image ${i}`);
      }
    }
  });

  it('the classification extension answers "score:index:label", as JSON and as binary BYTES', async () => {
    const binary = bytesTensor([chelsea]);
    const json = await infer(
      'default',
      binaryRequest(
        {
          inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: binary.length } }],
          outputs: [{ name: 'probabilities', parameters: { classification: 2 } }],
        },
        binary,
      ),
    );
    assert.equal(json.status, 200);
    const body = await json.json();
    conforms(body, 'inference_response');
    const out = body.outputs[0];
    assert.deepEqual([out.datatype, out.shape], ['BYTES', [1, 2]]);
    const [first, second] = (out.data as string[]).map((s) => s.split(':'));
    assert.equal(first!.length, 3);
    assert.equal(LABELS[Number(first![1])], first![2]);
    assert.ok(Number(first![0]) >= Number(second![0]));

    const asBinary = await infer(
      'default',
      binaryRequest(
        {
          inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: binary.length } }],
          parameters: { binary_data_output: true },
          outputs: [{ name: 'probabilities', parameters: { classification: 2 } }],
        },
        binary,
      ),
    );
    const { json: head, binary: data } = await readBinaryResponse(asBinary);
    conforms(head, 'inference_response', 'oip-binary');
    const elements: string[] = [];
    for (let at = 0; at < data.length; ) {
      const len = data.readUInt32LE(at);
      elements.push(data.subarray(at + 4, at + 4 + len).toString('utf8'));
      at += 4 + len;
    }
    assert.deepEqual(elements, out.data);
  });

  it("errors in the protocol's shape with the registry's status", async () => {
    const fp32 = (shape: number[], datatype = 'FP32', data: unknown = [0]) =>
      JSON.stringify({ inputs: [{ name: 'input', shape, datatype, data }] });
    const cases: Array<[string, Promise<Response>, number]> = [
      ['unknown model', infer('nope', { body: fp32([1, 224, 224, 3]) }), 404],
      ['wrong shape', infer('default', { body: fp32([1, 299, 299, 3]) }), 400],
      ['wrong size for a shape', infer('inception_v3', { body: fp32([1, 299, 299, 3], 'FP32', [1, 2, 3]) }), 400],
      ['wrong datatype', infer('default', { body: fp32([1, 224, 224, 3], 'INT32') }), 400],
      ['not JSON', infer('default', { body: '{"inputs": [' }), 400],
      [
        'unknown input name',
        infer('default', {
          body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', data: [] }] }),
        }),
        400,
      ],
      [
        'header length past the body',
        infer('default', { body: '{}', headers: { 'Inference-Header-Content-Length': '999' } }),
        400,
      ],
      [
        'BYTES length past the data',
        infer(
          'default',
          binaryRequest(
            { inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 8 } }] },
            Buffer.from([0xff, 0, 0, 0, 1, 2, 3, 4]),
          ),
        ),
        400,
      ],
      [
        'binary_data_size not matching',
        infer(
          'default',
          binaryRequest(
            { inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 3 } }] },
            bytesTensor([chelsea]),
          ),
        ),
        400,
      ],
      [
        'not an image',
        infer(
          'default',
          binaryRequest(
            { inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 9 } }] },
            bytesTensor([Buffer.from('hello')]),
          ),
        ),
        415,
      ],
    ];
    for (const [name, pending, status] of cases) {
      const res = await pending;
      assert.equal(res.status, status, name);
      assert.ok(res.headers.get('x-request-id'), `${name}: a request id`);
      const body = await res.json();
      conforms(body, 'inference_error_response');
      assert.deepEqual(Object.keys(body), ['error'], name);
    }
  });

  it('parameters.timeout (µs) ends the request before the service deadline', async () => {
    const binary = bytesTensor([chelsea]);
    const started = Date.now();
    const res = await infer(
      'inception_v3',
      binaryRequest(
        {
          inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: binary.length } }],
          parameters: { timeout: 1 },
        },
        binary,
      ),
    );
    assert.equal(res.status, 504);
    assert.match((await res.json()).error, /^DEADLINE_EXCEEDED/);
    assert.ok(Date.now() - started < svc.config.REQUEST_TIMEOUT_MS / 2);
  });
});
