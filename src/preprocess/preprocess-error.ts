/** A preprocessing failure of one image: the code and message its client sees, and the detail for the log. */
import type { ErrorCode } from '../wire/errors.ts';

export class PreprocessError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly clientMessage: string,
    readonly detail: string,
  ) {
    super(detail);
  }

  static invalid(detail: string): PreprocessError {
    return new PreprocessError('INVALID_IMAGE', 'The image could not be decoded (corrupt or truncated).', detail);
  }

  /** Maps an error thrown by sharp/libvips (or a decoder) to the client's code. */
  static fromDecoder(err: unknown, maxInputPixels: number): PreprocessError {
    if (err instanceof PreprocessError) return err;
    const detail = err instanceof Error ? err.message : String(err);
    if (/pixel limit/i.test(detail)) {
      return new PreprocessError('IMAGE_TOO_LARGE', `The image has more than ${maxInputPixels} pixels.`, detail);
    }
    if (/^timeout:/.test(detail)) {
      return new PreprocessError('IMAGE_TOO_COMPLEX', 'The image takes too long to decode.', detail);
    }
    if (/unsupported image format/i.test(detail)) {
      return new PreprocessError('UNSUPPORTED_MEDIA_TYPE', 'Not a supported image type.', detail);
    }
    return PreprocessError.invalid(detail);
  }
}
