/** The Open Inference Protocol request parser (pure logic): forms of the input, outputs, parameters, refusals. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInferRequest, type Parsed } from '../../src/frontend/v2/infer-request.ts';
import { inferResponse } from '../../src/frontend/v2/infer-response.ts';
import { outputTensor, type OutputRequest } from '../../src/frontend/v2/infer-output.ts';

const model = { dims: [2, 2, 3], classes: 5 };
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]);
const parse = (doc: object, binary?: Buffer, max = 16): Parsed => {
  const json = Buffer.from(JSON.stringify(doc));
  return binary
    ? parseInferRequest(Buffer.concat([json, binary]), String(json.length), model, max)
    : parseInferRequest(json, undefined, model, max);
};
const ok = (p: Parsed) => {
  assert.ok(p.ok, p.ok ? '' : p.message);
  return p.request;
};
const floats = (item: unknown) => {
  const t = (item as { tensor: Uint8Array }).tensor;
  return Array.from(new Float32Array(t.buffer.slice(t.byteOffset, t.byteOffset + t.byteLength)));
};

describe('Open Inference Protocol request parsing', () => {
  const values = Array.from({ length: 24 }, (_, i) => i / 10);

  it('reads FP32 data flat or nested into one tensor per element, the same either way', () => {
    const flat = ok(parse({ inputs: [{ name: 'input', shape: [2, 2, 2, 3], datatype: 'FP32', data: values }] }));
    const nested = ok(
      parse({
        inputs: [
          {
            name: 'input',
            shape: [2, 2, 2, 3],
            datatype: 'FP32',
            data: [
              [
                [values.slice(0, 3), values.slice(3, 6)],
                [values.slice(6, 9), values.slice(9, 12)],
              ],
              [
                [values.slice(12, 15), values.slice(15, 18)],
                [values.slice(18, 21), values.slice(21, 24)],
              ],
            ],
          },
        ],
      }),
    );
    assert.equal(flat.items.length, 2);
    assert.deepEqual(flat.items.map(floats), nested.items.map(floats));
    assert.deepEqual(floats(flat.items[1]), Array.from(new Float32Array(values.slice(12))));
  });

  it('reads binary FP32 data, and BYTES elements with their 4-byte lengths', () => {
    const bin = Buffer.from(new Float32Array(values).buffer);
    const r = ok(
      parse(
        {
          inputs: [
            { name: 'input', shape: [2, 2, 2, 3], datatype: 'FP32', parameters: { binary_data_size: bin.length } },
          ],
        },
        bin,
      ),
    );
    assert.deepEqual(floats(r.items[0]), Array.from(new Float32Array(values.slice(0, 12))));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(PNG.length);
    const bytes = Buffer.concat([len, PNG, len, PNG]);
    const images = ok(
      parse(
        { inputs: [{ name: 'input', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: bytes.length } }] },
        bytes,
      ),
    );
    assert.deepEqual(
      images.items.map((i) => i.ok && 'image' in i && i.format),
      ['png', 'png'],
    );
  });

  it('takes outputs, binary_data_output, classification, id and timeout (µs → ms)', () => {
    const r = ok(
      parse({
        id: 'x',
        parameters: { timeout: 250_000, binary_data_output: true },
        inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: values.slice(0, 12) }],
        outputs: [{ name: 'probabilities', parameters: { classification: 3 } }],
      }),
    );
    assert.deepEqual([r.id, r.timeoutMs, r.output], ['x', 250, { binary: true, classification: 3 }]);
  });

  it("refuses what the model cannot take, with the registry's codes", () => {
    const bad: Array<[string, Parsed, string]> = [
      [
        'wrong dims',
        parse({ inputs: [{ name: 'input', shape: [1, 3, 2, 3], datatype: 'FP32', data: values.slice(0, 18) }] }),
        'BAD_REQUEST',
      ],
      [
        'too few values',
        parse({ inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: values.slice(0, 11) }] }),
        'BAD_REQUEST',
      ],
      [
        'a string in FP32 data',
        parse({
          inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: ['a', ...values.slice(1, 12)] }],
        }),
        'BAD_REQUEST',
      ],
      [
        'INT64',
        parse({ inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'INT64', data: values.slice(0, 12) }] }),
        'BAD_REQUEST',
      ],
      [
        'two inputs',
        parse({
          inputs: [
            { name: 'input', shape: [1], datatype: 'BYTES' },
            { name: 'input', shape: [1], datatype: 'BYTES' },
          ],
        }),
        'BAD_REQUEST',
      ],
      [
        'BYTES in JSON',
        parse({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: ['abc'] }] }),
        'BAD_REQUEST',
      ],
      [
        'trailing BYTES',
        parse(
          { inputs: [{ name: 'input', shape: [0], datatype: 'BYTES', parameters: { binary_data_size: 1 } }] },
          Buffer.from([1]),
        ),
        'BAD_REQUEST',
      ],
      [
        'unknown output',
        parse({
          inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: values.slice(0, 12) }],
          outputs: [{ name: 'logits' }],
        }),
        'BAD_REQUEST',
      ],
      [
        'classification 0',
        parse({
          inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: values.slice(0, 12) }],
          outputs: [{ name: 'probabilities', parameters: { classification: 0 } }],
        }),
        'BAD_REQUEST',
      ],
      [
        'too many elements',
        parse({ inputs: [{ name: 'input', shape: [3, 2, 2, 3], datatype: 'FP32', data: [] }] }, undefined, 2),
        'TOO_MANY_IMAGES',
      ],
      ['header length not a number', parseInferRequest(Buffer.from('{}'), 'x', model, 16), 'BAD_REQUEST'],
    ];
    for (const [name, p, code] of bad) {
      assert.equal(p.ok, false, name);
      if (!p.ok) assert.equal(p.code, code, name);
    }
  });
});

describe('Open Inference Protocol request parsing, hostile bodies (issue 20)', () => {
  const message = (p: Parsed) => (p.ok ? '' : p.message);
  const values = Array.from({ length: 12 }, (_, i) => i / 10);

  it('refuses nesting deeper than the request and its rank before parsing, brackets in strings not counted', () => {
    const deep = Buffer.from(
      `{"inputs":[{"name":"input","shape":[1,2,2,3],"datatype":"FP32","data":${'['.repeat(200_000)}`,
    );
    const p = parseInferRequest(deep, undefined, model, 16);
    assert.match(message(p), /nests arrays or objects deeper than 8 levels/);
    // The deepest legitimate request: data nested to its full rank (4), and a string full of brackets.
    const nested = [
      [
        [values.slice(0, 3), values.slice(3, 6)],
        [values.slice(6, 9), values.slice(9, 12)],
      ],
    ];
    const legit = parse({
      id: '[[[[[[[[[[',
      inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: nested }],
    });
    ok(legit);
  });

  it('refuses a shape its data cannot fill before allocating for it', () => {
    // 97 bytes declaring 16 × 224 × 224 × 3 values: refused on the body's length, not after a 9.6 MB allocation.
    const big = { dims: [224, 224, 3], classes: 5 };
    const body = Buffer.from('{"inputs":[{"name":"input","shape":[16,224,224,3],"datatype":"FP32","data":[1,2,3]}]}');
    const p = parseInferRequest(body, undefined, big, 16);
    assert.match(message(p), /cannot hold the 2408448 values .*at most \d+/);
  });

  it('refuses values that are not finite as float32: 1e39 and -1e39 in JSON, NaN and Infinity in binary', () => {
    for (const v of [1e39, -1e39, 3.5e38]) {
      const data = [v, ...values.slice(1, 12)];
      const p = parse({ inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data }] });
      assert.match(message(p), /finite as float32/, String(v));
    }
    // 3e38 is finite as a float32: accepted (the model's output is checked after inference).
    ok(
      parse({
        inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', data: [3e38, ...values.slice(1, 12)] }],
      }),
    );
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const f = new Float32Array(12).fill(0.5);
      f[7] = v;
      const bin = Buffer.from(f.buffer);
      const p = parse(
        { inputs: [{ name: 'input', shape: [1, 2, 2, 3], datatype: 'FP32', parameters: { binary_data_size: 48 } }] },
        bin,
      );
      assert.match(message(p), /finite as float32/, String(v));
    }
  });
});

describe('Open Inference Protocol response', () => {
  const labels = ['a', 'b', 'c', 'd', 'e'];
  const row = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);
  const rows = [row([0.1, 0.5, 0.2, 0.1, 0.1]), row([0.6, 0.1, 0.1, 0.1, 0.1])];
  const respond = (output: OutputRequest, id?: string) =>
    inferResponse('m', outputTensor(labels, rows, output), output.binary, id);

  it('answers FP32 [N, classes] in element order, or the top k as "score:index:label"', () => {
    const fp32 = JSON.parse(respond({ binary: false }, 'q').body as string);
    assert.deepEqual(fp32.outputs[0].shape, [2, 5]);
    assert.equal(fp32.id, 'q');
    assert.equal(fp32.outputs[0].data[5], Math.fround(0.6));
    const top = JSON.parse(respond({ binary: false, classification: 1 }).body as string);
    assert.deepEqual(top.outputs[0].data, [`${Math.fround(0.5)}:1:b`, `${Math.fround(0.6)}:0:a`]);
  });

  it("puts binary outputs after the JSON and gives the JSON's length", () => {
    const out = respond({ binary: true });
    const body = out.body as Buffer;
    const n = Number(out.headers['Inference-Header-Content-Length']);
    const head = JSON.parse(body.subarray(0, n).toString());
    assert.equal(head.outputs[0].parameters.binary_data_size, 40);
    assert.equal(head.outputs[0].data, undefined);
    assert.equal(body.length - n, 40);
  });
});
