/** Open Inference Protocol request helpers for tests: the binary data extension's layout, built from its spec. */

/** The binary data extension's BYTES layout: per element a 4-byte little-endian length, then the bytes. */
export function bytesTensor(items: Uint8Array[]): Buffer {
  return Buffer.concat(
    items.flatMap((b) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, Buffer.from(b)];
    }),
  );
}

/** A request with binary data: the JSON, then the bytes; Inference-Header-Content-Length = the JSON's length. */
export function binaryRequest(json: object, binary: Buffer): { body: Buffer; headers: Record<string, string> } {
  const head = Buffer.from(JSON.stringify(json));
  return {
    body: Buffer.concat([head, binary]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length) },
  };
}

/** An infer request of encoded images as one BYTES input, with the given outputs part (if any). */
export function bytesInfer(
  images: Uint8Array[],
  outputs?: object[],
): { body: Buffer; headers: Record<string, string> } {
  const binary = bytesTensor(images);
  const input = {
    name: 'input',
    shape: [images.length],
    datatype: 'BYTES',
    parameters: { binary_data_size: binary.length },
  };
  return binaryRequest({ inputs: [input], ...(outputs && { outputs }) }, binary);
}
