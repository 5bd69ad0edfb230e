/**
 * ModelInfer's messages: a decoded ModelInferRequest into the protocol-neutral InferRequest (the input tensor
 * from raw_input_contents or from contents, never both; the classification output parameter; the timeout
 * parameter), and the output tensor into a ModelInferResponse with raw_output_contents. Pure logic.
 */
import {
  int64Value,
  type InferParameter,
  type ModelInferRequest,
  type ModelInferResponse,
} from '../wire/open-inference-grpc.ts';
import type { InferRequest, Parsed } from '../frontend/v2/infer-path.ts';
import { OUTPUT_NAME, type OutputRequest, type OutputTensor } from '../frontend/v2/infer-output.ts';
import { INPUT_NAME, isRefusal, tensorItems, type TensorData, type TensorModel } from '../frontend/v2/tensor-input.ts';

const bad = (message: string): Parsed => ({ ok: false, code: 'BAD_REQUEST', message });

/** The int64_param of a parameter, when that is the field sent. */
function int64Param(p: InferParameter | undefined): number | undefined {
  return p !== undefined && Object.hasOwn(p, 'int64_param') ? int64Value(p.int64_param!) : undefined;
}

function outputRequest(req: ModelInferRequest): OutputRequest | string {
  if (req.outputs.length > 1) return `"outputs" may name at most the one output "${OUTPUT_NAME}".`;
  const o = req.outputs[0];
  if (o === undefined) return { binary: false };
  if (o.name !== OUTPUT_NAME)
    return `Unknown output ${JSON.stringify(o.name.slice(0, 64))}: the model's only output is "${OUTPUT_NAME}".`;
  const p = o.parameters.classification;
  if (p === undefined) return { binary: false };
  const k = int64Param(p);
  if (k === undefined || !Number.isSafeInteger(k) || k < 1)
    return '"classification" must be a positive int64_param (the number of classes to return).';
  return { binary: false, classification: k };
}

/** Where the input's data is: raw_input_contents, or contents (fp32_contents or bytes_contents). */
function tensorData(req: ModelInferRequest): TensorData | string {
  const input = req.inputs[0]!;
  const raw = req.raw_input_contents;
  if (raw.length > 0) {
    if (input.contents) return 'raw_input_contents and contents are both set: send the tensor in one of them.';
    if (raw.length !== req.inputs.length)
      return `raw_input_contents has ${raw.length} entries for ${req.inputs.length} input: one per input.`;
    return { form: 'raw', bytes: raw[0]! };
  }
  const c = input.contents;
  const hint =
    'The input has no data: send it in raw_input_contents, or in contents (fp32_contents or bytes_contents).';
  if (!c) return { form: 'none', hint };
  const others = (
    ['bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp64_contents'] as const
  ).filter((f) => c[f].length > 0);
  if (others.length > 0)
    return `contents.${others[0]} is not accepted: FP32 takes fp32_contents, BYTES bytes_contents.`;
  if (c.fp32_contents.length > 0 && c.bytes_contents.length > 0)
    return 'contents holds both fp32_contents and bytes_contents: send one.';
  if (c.bytes_contents.length > 0) return { form: 'elements', elements: c.bytes_contents };
  if (c.fp32_contents.length === 0) return { form: 'none', hint };
  const values = c.fp32_contents;
  return {
    form: 'values',
    maxCount: values.length,
    fill(out) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (!Number.isFinite(v)) return -1;
        if (i < out.length) out[i] = v;
      }
      return values.length;
    },
  };
}

export function parseModelInfer(req: ModelInferRequest, model: TensorModel, maxElements: number): Parsed {
  let timeoutMs: number | undefined;
  const timeout = req.parameters.timeout;
  if (timeout !== undefined) {
    const us = int64Param(timeout);
    if (us === undefined || !Number.isSafeInteger(us) || us < 1)
      return bad('"timeout" must be a positive int64_param (microseconds).');
    timeoutMs = us / 1000;
  }
  const output = outputRequest(req);
  if (typeof output === 'string') return bad(output);
  if (req.inputs.length !== 1) return bad(`"inputs" must hold exactly one input, "${INPUT_NAME}".`);
  const input = req.inputs[0]!;
  if (input.name !== INPUT_NAME)
    return bad(`Unknown input ${JSON.stringify(input.name.slice(0, 64))}: the model's only input is "${INPUT_NAME}".`);
  const data = tensorData(req);
  if (typeof data === 'string') return bad(data);
  const items = tensorItems(input.datatype, input.shape.map(int64Value), data, model, maxElements);
  if (isRefusal(items)) return { ok: false, ...items };
  const request: InferRequest = {
    items,
    output,
    ...(req.id !== '' && { id: req.id }),
    ...(timeoutMs !== undefined && { timeoutMs }),
  };
  return { ok: true, request };
}

/** The answer: the output's name, datatype and shape, and its elements in raw_output_contents. */
export function modelInferResponse(
  model: string,
  version: string,
  id: string,
  tensor: OutputTensor,
): ModelInferResponse {
  const { name, datatype, shape } = tensor;
  return {
    model_name: model,
    model_version: version,
    id,
    outputs: [{ name, datatype, shape }],
    raw_output_contents: [tensor.raw()],
  };
}
