/**
 * The model's one input tensor, whichever protocol carried it (REST JSON or binary, gRPC raw or contents), into
 * the items to queue: one per batch element. Pure logic. Every size is checked before anything is allocated:
 * the shape against the model and the element limit first, then the data against the shape.
 *
 *   FP32  [N, ...the model's input dims]  ready values, copied into the batch as they are (no decode, no resize)
 *   BYTES [N]                              encoded images, preprocessed exactly as /predict's
 */
import type { ErrorCode } from '../../wire/errors.ts';
import type { QueueItem } from '../enqueue-images.ts';
import { checkImage } from '../image-input.ts';

export const INPUT_NAME = 'input';

/** What the inference needs to know about the model: its input dims (without N) and its classes. */
export interface TensorModel {
  dims: readonly number[];
  classes: number;
}

/** The tensor's data as the request carried it. */
export type TensorData =
  /** Row-major little-endian bytes: FP32 values, or BYTES elements each after a 4-byte little-endian length. */
  | { form: 'raw'; bytes: Uint8Array }
  /**
   * Numbers (JSON `data`, gRPC fp32_contents): `fill` writes up to out.length, returns the count, -1 at a value that
   * is not a number or not finite as a float32. `maxCount` bounds the count before anything is allocated.
   */
  | { form: 'values'; maxCount: number; fill(out: Float32Array): number }
  /** BYTES elements one by one (gRPC bytes_contents). */
  | { form: 'elements'; elements: readonly Uint8Array[] }
  /** No data: `hint` says how this protocol sends it. */
  | { form: 'none'; hint: string };

export type Refusal = { code: ErrorCode; message: string };
const bad = (message: string): Refusal => ({ code: 'BAD_REQUEST', message });

/** Checks the datatype and shape before any data is read: N elements within `maxElements`. */
function checkShape(
  datatype: string,
  shape: readonly number[],
  model: TensorModel,
  maxElements: number,
): Refusal | undefined {
  if (shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1))
    return bad('"shape" must be an array of positive integers.');
  const n = shape[0]!;
  if (n > maxElements)
    return { code: 'TOO_MANY_IMAGES', message: `At most ${maxElements} elements per request; this one has ${n}.` };
  if (datatype === 'FP32') {
    const dims = shape.slice(1);
    if (dims.length !== model.dims.length || dims.some((d, i) => d !== model.dims[i]))
      return bad(`Wrong shape [${shape.join(', ')}] for FP32 input: the model takes [N, ${model.dims.join(', ')}].`);
    return undefined;
  }
  if (datatype === 'BYTES')
    return shape.length === 1
      ? undefined
      : bad(`Wrong shape [${shape.join(', ')}] for BYTES input: encoded images take [N].`);
  return bad(
    `Datatype ${JSON.stringify(datatype.slice(0, 16))} is not accepted for "${INPUT_NAME}": FP32 (the model's input) or BYTES (encoded images).`,
  );
}

const NOT_FINITE = 'FP32 data must hold only numbers that are finite as float32 (no NaN, no Infinity, |x| < 3.4e38).';

/** Whether every float32 (little-endian) in `bytes` is finite: NaN and ±Infinity have all exponent bits set. */
export function finiteFloat32(bytes: Uint8Array): boolean {
  // The exponent's top 7 bits are in each float's last byte (little-endian), its lowest in the byte before.
  for (let i = 3; i < bytes.length; i += 4) {
    if ((bytes[i]! & 0x7f) === 0x7f && (bytes[i - 1]! & 0x80) === 0x80) return false;
  }
  return true;
}

/** The FP32 form: N tensors of the model's input. */
function fp32Items(shape: readonly number[], model: TensorModel, data: TensorData): QueueItem[] | Refusal {
  const n = shape[0]!;
  const per = model.dims.reduce((a, b) => a * b, 1);
  const byteLength = n * per * 4;
  let bytes: Uint8Array;
  if (data.form === 'raw') {
    if (data.bytes.byteLength !== byteLength)
      return bad(
        `Binary FP32 data of ${data.bytes.byteLength} bytes for shape [${shape.join(', ')}]: expected ${byteLength}.`,
      );
    bytes = data.bytes; // little-endian on the wire and on every platform Node runs here
    if (!finiteFloat32(bytes)) return bad(NOT_FINITE);
  } else if (data.form === 'values') {
    if (n * per > data.maxCount)
      return bad(
        `FP32 data cannot hold the ${n * per} values of shape [${shape.join(', ')}]: it has at most ${data.maxCount}.`,
      );
    const values = new Float32Array(n * per);
    const count = data.fill(values);
    if (count < 0) return bad(NOT_FINITE);
    if (count !== values.length)
      return bad(`FP32 data has ${count} values for shape [${shape.join(', ')}]: expected ${values.length}.`);
    bytes = new Uint8Array(values.buffer);
  } else if (data.form === 'none') {
    return bad(data.hint);
  } else {
    return bad('FP32 input cannot be sent as BYTES elements.');
  }
  return Array.from({ length: n }, (_, i) => ({
    ok: true as const,
    tensor: bytes.subarray(i * per * 4, (i + 1) * per * 4),
  }));
}

/** The BYTES form from raw bytes: N encoded images, each a 4-byte little-endian length and its bytes. */
function rawBytesItems(n: number, raw: Uint8Array): QueueItem[] | Refusal {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const items: QueueItem[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + 4 > raw.byteLength)
      return bad(`BYTES element ${i}: its 4-byte length is missing (binary data ends at byte ${raw.byteLength}).`);
    const length = view.getUint32(at, true);
    at += 4;
    if (length > raw.byteLength - at)
      return bad(`BYTES element ${i}: length ${length} runs past the end of the binary data.`);
    items.push(checkImage(raw.subarray(at, at + length)));
    at += length;
  }
  if (at !== raw.byteLength) return bad(`BYTES data has ${raw.byteLength - at} bytes after its ${n} elements.`);
  return items;
}

function bytesItems(n: number, data: TensorData): QueueItem[] | Refusal {
  if (data.form === 'raw') return rawBytesItems(n, data.bytes);
  if (data.form === 'elements') {
    if (data.elements.length !== n) return bad(`BYTES input has ${data.elements.length} elements for shape [${n}].`);
    return data.elements.map((e) => checkImage(e));
  }
  if (data.form === 'none') return bad(data.hint);
  return bad('BYTES input must be sent as bytes, not numbers.');
}

/** The items of the model's input tensor, or why it is refused. */
export function tensorItems(
  datatype: string,
  shape: readonly number[],
  data: TensorData,
  model: TensorModel,
  maxElements: number,
): QueueItem[] | Refusal {
  const refused = checkShape(datatype, shape, model, maxElements);
  if (refused) return refused;
  return datatype === 'FP32' ? fp32Items(shape, model, data) : bytesItems(shape[0]!, data);
}

export const isRefusal = (r: QueueItem[] | Refusal): r is Refusal => !Array.isArray(r);
