/**
 * Builds an Open Inference Protocol REST inference response from the output tensor (infer-output.ts): as JSON
 * `data`, or as binary data after the JSON (binary tensor data extension) with Inference-Header-Content-Length
 * giving the JSON's length.
 */
import type { OutputTensor } from './infer-output.ts';
import { MODEL_VERSION } from './model-info.ts';

export interface InferAnswer {
  contentType: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

export function inferResponse(
  model: string,
  tensor: OutputTensor,
  binary: boolean,
  id?: string,
  version: string = MODEL_VERSION,
): InferAnswer {
  const head = { model_name: model, model_version: version, ...(id !== undefined && { id }) };
  const { name, shape, datatype } = tensor;
  if (!binary) {
    const body = JSON.stringify({ ...head, outputs: [{ name, shape, datatype, data: tensor.values() }] });
    return { contentType: 'application/json', headers: {}, body };
  }
  const raw = tensor.raw();
  const json = Buffer.from(
    JSON.stringify({
      ...head,
      outputs: [{ name, shape, datatype, parameters: { binary_data_size: raw.length } }],
    }),
  );
  return {
    contentType: 'application/octet-stream',
    headers: { 'Inference-Header-Content-Length': String(json.length) },
    body: Buffer.concat([json, raw]),
  };
}
