/**
 * Reads the parts named `field` from a multipart/form-data body with busboy. The body is fed in small slices and
 * the event loop gets a turn every few milliseconds, so no body within BODY_LIMIT_BYTES blocks it for long; the
 * parts and images limits are enforced while parsing, so a body of a million empty parts stops after its first
 * few kilobytes (measured in bench/multipart.ts). uWS's native getParts is no faster on photo bodies once guarded
 * against bodies of many parts (it cannot stop early): measured in BENCHMARKS.md, issue 22.
 */
import busboy from 'busboy';
import { format as formatContentType } from 'content-type';
import { finished } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface MultipartLimits {
  /** Parts of any name; one more is refused. */
  maxParts: number;
  /** Parts named `field`; one more is refused. */
  maxImages: number;
}

export type MultipartImages =
  | { ok: true; images: Buffer[] }
  | { ok: false; reason: 'too-many-parts' | 'too-many-images' | 'malformed' };

/** Bytes handed to busboy in one synchronous call: small enough that even a slice of empty parts costs < 1 ms. */
export const SLICE_BYTES = 16 * 1024;
/** Longest stretch of slices parsed before the event loop gets a turn. */
export const YIELD_AFTER_MS = 2;

/**
 * A file part's bytes, without copying them: busboy hands out views into the body, except for the few bytes it
 * held back at a slice border to look for the boundary, which are copies of the body bytes just before the next
 * view. So the part is one range of the body; checked chunk by chunk, else copied.
 */
function partOf(body: Buffer, chunks: Buffer[]): Buffer {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  let offset = -1;
  let before = 0;
  for (const chunk of chunks) {
    if (chunk.buffer === body.buffer) {
      offset = chunk.byteOffset - before;
      break;
    }
    before += chunk.byteLength;
  }
  if (offset < body.byteOffset || offset + total > body.byteOffset + body.byteLength)
    return Buffer.concat(chunks, total);
  const part = Buffer.from(body.buffer, offset, total);
  let at = 0;
  for (const chunk of chunks) {
    const same =
      chunk.buffer === body.buffer
        ? chunk.byteOffset === offset + at
        : chunk.equals(part.subarray(at, at + chunk.byteLength));
    if (!same) return Buffer.concat(chunks, total);
    at += chunk.byteLength;
  }
  return part;
}

/**
 * `boundary` comes from the request's Content-Type, already parsed (image-input.ts). `yieldAfterMs` is the longest
 * stretch of parsing between two event-loop turns (0: a turn after every slice).
 */
export async function readMultipartImages(
  body: Buffer,
  boundary: string,
  field: string,
  limits: MultipartLimits,
  yieldAfterMs = YIELD_AFTER_MS,
): Promise<MultipartImages> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      // One parser reads the request's header; busboy gets the canonical spelling of its result.
      headers: { 'content-type': formatContentType({ type: 'multipart/form-data', parameters: { boundary } }) },
      // limits.parts counts completed parts and fires on reaching it: one more than allowed means "too many".
      // The whole body is already in memory, so field and file sizes need no limit of their own.
      limits: { parts: limits.maxParts + 1, fieldSize: body.byteLength, fileSize: body.byteLength },
      // An image sent as a plain field (no filename) survives the text decoding unchanged as latin1.
      defCharset: 'latin1',
    });
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const images: Buffer[] = [];
  let failure: Extract<MultipartImages, { ok: false }>['reason'] | undefined;
  const take = (): number | undefined => {
    if (images.length === limits.maxImages) {
      failure ??= 'too-many-images';
      return undefined;
    }
    images.push(Buffer.alloc(0));
    return images.length - 1;
  };
  parser.on('file', (name, stream) => {
    // A file stream cut short by a refusal errors; that outcome is already recorded.
    stream.on('error', () => {});
    const index = name === field ? take() : undefined;
    if (index === undefined) return void stream.resume();
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      images[index] = partOf(body, chunks);
    });
  });
  parser.on('field', (name, value) => {
    if (name !== field) return;
    const index = take();
    if (index !== undefined) images[index] = Buffer.from(value, 'latin1');
  });
  parser.on('partsLimit', () => {
    failure ??= 'too-many-parts';
  });
  const done = finished(parser).then(
    () => undefined,
    () => {
      failure ??= 'malformed';
    },
  );

  let sliceStarted = performance.now();
  // busboy parses each slice synchronously, so no write callback is awaited (no Promise per slice): the loop yields
  // on time alone, and stops at a refusal or at the parser's own error (a malformed body).
  for (let offset = 0; offset < body.byteLength && failure === undefined && !parser.destroyed; offset += SLICE_BYTES) {
    parser.write(body.subarray(offset, offset + SLICE_BYTES));
    if (performance.now() - sliceStarted >= yieldAfterMs) {
      await nextTurn();
      sliceStarted = performance.now();
    }
  }
  if (failure === undefined) parser.end();
  else parser.destroy();
  await done;
  return failure === undefined ? { ok: true, images } : { ok: false, reason: failure };
}
