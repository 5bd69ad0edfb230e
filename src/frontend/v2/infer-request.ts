/**
 * Parses an Open Inference Protocol inference request (REST, with the binary tensor data extension) into the
 * items to queue: one per batch element. Pure logic, no I/O. The model has one input, named `input`
 * (OpenVINO Model Server's choice: one name, the datatype says which form), accepted as
 *
 *   FP32  [N, ...the model's input dims]  ready values, JSON `data` (flat or nested) or binary; copied into the
 *                                          batch as they are (no decode, no resize)
 *   BYTES [N]                              encoded images through the binary extension (4-byte little-endian
 *                                          length + bytes per element), preprocessed exactly as /predict's
 *
 * and one output, `probabilities` (FP32 [N, classes]), optionally as the classification extension's top k
 * ("score:index:label", BYTES [N, k]) and as binary data (binary_data / binary_data_output).
 */
import { OUTPUT_NAME, type OutputRequest } from './infer-output.ts';
import { jsonDeeperThan } from './json-depth.ts';
import type { Parsed } from './infer-path.ts';
import { INPUT_NAME, isRefusal, tensorItems, type TensorData, type TensorModel } from './tensor-input.ts';

export type { Parsed };

const bad = (message: string): Parsed => ({ ok: false, code: 'BAD_REQUEST', message });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Splits the body: the JSON header, then the binary part (Inference-Header-Content-Length, when present). */
function split(body: Buffer, headerLength: string | undefined): { json: Buffer; binary: Buffer } | string {
  if (headerLength === undefined) return { json: body, binary: body.subarray(body.length) };
  const n = Number(headerLength);
  if (!/^\d+$/.test(headerLength) || n > body.length)
    return `Inference-Header-Content-Length ${JSON.stringify(headerLength.slice(0, 20))} is not a length within the body (${body.length} bytes).`;
  return { json: body.subarray(0, n), binary: body.subarray(n) };
}

/** Flattens nested JSON data into `out`; returns how many numbers it wrote, or -1 at the first non-number. */
function flattenNumbers(data: unknown[], out: Float32Array): number {
  let n = 0;
  const stack: Array<{ a: unknown[]; i: number }> = [{ a: data, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i === top.a.length) {
      stack.pop();
      continue;
    }
    const v = top.a[top.i++];
    if (Array.isArray(v)) {
      stack.push({ a: v, i: 0 });
    } else if (typeof v === 'number') {
      // Finite as a float64 is not enough: 1e39 is Infinity as a float32.
      if (n < out.length) {
        out[n] = v;
        if (!Number.isFinite(out[n]!)) return -1;
      } else if (!Number.isFinite(Math.fround(v))) {
        return -1;
      }
      n++;
    } else {
      return -1;
    }
  }
  return n;
}

function parseOutputs(outputs: unknown, parameters: Record<string, unknown>): OutputRequest | string {
  const binaryAll = parameters.binary_data_output;
  if (binaryAll !== undefined && typeof binaryAll !== 'boolean') return '"binary_data_output" must be a boolean.';
  const output: OutputRequest = { binary: binaryAll === true };
  if (outputs === undefined) return output;
  if (!Array.isArray(outputs) || outputs.length > 1)
    return `"outputs" must be an array naming at most the one output "${OUTPUT_NAME}".`;
  const o = outputs[0] as unknown;
  if (o === undefined) return output;
  if (!isObject(o) || o.name !== OUTPUT_NAME) return `Unknown output: the model's only output is "${OUTPUT_NAME}".`;
  const p = o.parameters === undefined ? {} : o.parameters;
  if (!isObject(p)) return '"parameters" of an output must be an object.';
  if (p.binary_data !== undefined) {
    if (typeof p.binary_data !== 'boolean') return '"binary_data" must be a boolean.';
    output.binary = p.binary_data;
  }
  if (p.classification !== undefined) {
    const k = p.classification;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) return '"classification" must be a positive integer.';
    output.classification = k;
  }
  return output;
}

export function parseInferRequest(
  body: Buffer,
  headerLength: string | undefined,
  model: TensorModel,
  maxElements: number,
): Parsed {
  const parts = split(body, headerLength);
  if (typeof parts === 'string') return bad(parts);
  // Deeper than the request's own structure (object, inputs, input, then the data's rank) is refused unparsed:
  // millions of nested brackets cost JSON.parse and the flattening seconds of the event loop.
  const maxDepth = 4 + 1 + model.dims.length;
  if (jsonDeeperThan(parts.json, maxDepth))
    return bad(`The inference request nests arrays or objects deeper than ${maxDepth} levels.`);
  let doc: unknown;
  try {
    doc = JSON.parse(parts.json.toString('utf8'));
  } catch {
    return bad(
      "The inference request is not valid JSON (with binary data, set Inference-Header-Content-Length to the JSON's length).",
    );
  }
  if (!isObject(doc)) return bad('The inference request must be a JSON object.');
  if (doc.id !== undefined && typeof doc.id !== 'string') return bad('"id" must be a string.');
  const parameters = doc.parameters === undefined ? {} : doc.parameters;
  if (!isObject(parameters)) return bad('"parameters" must be an object.');
  let timeoutMs: number | undefined;
  if (parameters.timeout !== undefined) {
    const us = parameters.timeout;
    if (typeof us !== 'number' || !Number.isInteger(us) || us < 1)
      return bad('"timeout" must be a positive integer (microseconds).');
    timeoutMs = us / 1000;
  }
  const output = parseOutputs(doc.outputs, parameters);
  if (typeof output === 'string') return bad(output);

  const inputs = doc.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1 || !isObject(inputs[0]))
    return bad(`"inputs" must hold exactly one input, "${INPUT_NAME}".`);
  const input = inputs[0];
  if (input.name !== INPUT_NAME)
    return bad(
      `Unknown input ${JSON.stringify(String(input.name).slice(0, 64))}: the model's only input is "${INPUT_NAME}".`,
    );
  const shape = input.shape;
  if (!Array.isArray(shape)) return bad('"shape" must be an array of positive integers.');
  const inputParams = input.parameters === undefined ? {} : input.parameters;
  if (!isObject(inputParams)) return bad('"parameters" of an input must be an object.');
  let data: TensorData;
  if (inputParams.binary_data_size !== undefined) {
    const size = inputParams.binary_data_size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0)
      return bad('"binary_data_size" must be a non-negative integer.');
    if (size !== parts.binary.length)
      return bad(`"binary_data_size" is ${size} but ${parts.binary.length} bytes follow the JSON.`);
    data = { form: 'raw', bytes: parts.binary };
  } else if (parts.binary.length > 0) {
    return bad('Binary data follows the JSON but the input declares no "binary_data_size".');
  } else if (input.datatype === 'FP32' && Array.isArray(input.data)) {
    const json = input.data;
    // Each number takes at least one character and a separator: a bound on the count before allocating.
    data = { form: 'values', maxCount: Math.ceil(parts.json.length / 2), fill: (out) => flattenNumbers(json, out) };
  } else {
    data = {
      form: 'none',
      hint:
        input.datatype === 'BYTES'
          ? 'BYTES images must be sent with the binary data extension ("binary_data_size" and the bytes after the JSON).'
          : 'FP32 input needs "data" (a JSON array) or binary data ("binary_data_size").',
    };
  }
  const items = tensorItems(String(input.datatype), shape as number[], data, model, maxElements);
  if (isRefusal(items)) return { ok: false, ...items };
  return {
    ok: true,
    request: {
      ...(doc.id !== undefined && { id: doc.id as string }),
      items,
      output,
      ...(timeoutMs !== undefined && { timeoutMs }),
    },
  };
}
