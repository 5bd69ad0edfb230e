/**
 * Finds the image in a /predict body (multipart field `image`, or the raw body with an image/* type) and checks,
 * from its first bytes only, that it is a raster format the model host can decode. The front end never decodes.
 */
import { parse as parseContentType } from 'content-type';
import { readMultipartImages, type MultipartLimits } from './multipart.ts';
import type { ErrorCode } from '../wire/errors.ts';

export const IMAGE_FIELD = 'image';

/** Magic numbers of the formats sharp decodes here. SVG is deliberately absent: a document, not a photo. */
export function sniffFormat(b: Uint8Array): string | undefined {
  const at = (offset: number, ...bytes: number[]) => bytes.every((v, i) => b[offset + i] === v);
  const ascii = (offset: number, text: string) => at(offset, ...Array.from(text, (c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (
    ascii(4, 'ftyp') &&
    (ascii(8, 'avif') || ascii(8, 'avis') || ascii(8, 'heic') || ascii(8, 'heix') || ascii(8, 'mif1'))
  )
    return 'heif';
  return undefined;
}

/** One image's own checks: not empty, and a raster format by its magic number. */
export function checkImage(bytes: Uint8Array): ImageItem {
  if (bytes.byteLength === 0) return { ok: false, code: 'MISSING_IMAGE', message: 'The image is empty (0 bytes).' };
  const format = sniffFormat(bytes);
  if (!format) return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE' };
  return { ok: true, image: bytes, format };
}

/** One image of a request, checked on its own: a bad one fails alone when several are sent. */
export type ImageItem =
  | { ok: true; image: Uint8Array; format: string }
  | { ok: false; code: ErrorCode; message?: string };

export type ImagesInput = { ok: true; images: ImageItem[] } | { ok: false; code: ErrorCode; message?: string };

/**
 * The images of a /predict body: the raw body with an image/* type, or the multipart field `image`, which may be
 * repeated up to `maxImages` times. Request-level problems (no image, too many, unparsable body, wrong content
 * type) fail the request; each image is sniffed on its own. A lone image that fails its check fails the request.
 * The Content-Type is parsed as RFC 9110 says (media type and parameter names case-insensitive, quoted values).
 */
export async function extractImages(
  body: Buffer,
  contentTypeHeader: string,
  limits: MultipartLimits,
): Promise<ImagesInput> {
  const { type, parameters } = parseContentType(contentTypeHeader);
  if (type.startsWith('image/')) {
    if (type.startsWith('image/svg'))
      return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'SVG is not accepted: send a raster image.' };
    const one = checkImage(body);
    return one.ok ? { ok: true, images: [one] } : one;
  }
  if (body.byteLength === 0) return { ok: false, code: 'MISSING_IMAGE' };
  if (type !== 'multipart/form-data') {
    return {
      ok: false,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: 'Send multipart/form-data with an "image" field, or an image/* body.',
    };
  }
  if (!parameters.boundary)
    return { ok: false, code: 'BAD_REQUEST', message: 'multipart/form-data without a boundary.' };
  const parts = await readMultipartImages(body, parameters.boundary, IMAGE_FIELD, limits);
  if (!parts.ok) {
    if (parts.reason === 'too-many-images') {
      const max = limits.maxImages;
      return {
        ok: false,
        code: 'TOO_MANY_IMAGES',
        message: `At most ${max} "${IMAGE_FIELD}" field${max === 1 ? '' : 's'} per request.`,
      };
    }
    if (parts.reason === 'too-many-parts')
      return { ok: false, code: 'BAD_REQUEST', message: `More than ${limits.maxParts} multipart parts.` };
    return { ok: false, code: 'BAD_REQUEST', message: 'The multipart body is malformed or incomplete.' };
  }
  if (parts.images.length === 0) return { ok: false, code: 'MISSING_IMAGE' };
  const items = parts.images.map((bytes) =>
    checkImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
  );
  const first = items[0]!;
  if (items.length === 1 && !first.ok) return first;
  return { ok: true, images: items };
}
