/** One row of class scores as float32 little-endian bytes (a copy), for results that carry every probability. */
export function scoreRow(scores: Float32Array, row: number, classes: number): Uint8Array {
  const copy = scores.slice(row * classes, (row + 1) * classes);
  return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
}
