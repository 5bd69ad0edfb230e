/**
 * One registry of the service's error codes: each with its HTTP status and the message a client sees.
 * Responses never carry internal detail; the log has it, tied to the request id. `retryAfterS`: the answer
 * carries `Retry-After` (seconds), for refusals a client should simply retry.
 */
export const errorCodes = {
  MISSING_IMAGE: {
    status: 400,
    message:
      'No image in the request: send multipart/form-data with an "image" field, or the image as the raw body with an image/* Content-Type.',
  },
  INVALID_IMAGE: { status: 400, message: 'The image could not be decoded.' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  TOO_MANY_IMAGES: { status: 400, message: 'Too many images in one request.' },
  UNAUTHORIZED: { status: 401, message: 'A valid API key is required: send "Authorization: Bearer <key>".' },
  FORBIDDEN: { status: 403, message: 'This key is not allowed to use this endpoint.' },
  LOAD_FAILED: { status: 400, message: 'The model could not be loaded or unloaded on every host serving it.' },
  NOT_FOUND: { status: 404, message: 'No such endpoint.' },
  MODEL_NOT_FOUND: { status: 404, message: 'No such model is served here.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this endpoint.' },
  BODY_TIMEOUT: { status: 408, message: 'The request body did not arrive in time.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than the limit.' },
  IMAGE_TOO_LARGE: { status: 413, message: 'The image has more pixels than the limit.' },
  IMAGE_TOO_COMPLEX: {
    status: 422,
    message: 'The image needs more decoding work than the limit allows (too many JPEG scans, or too long to decode).',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Not a supported image type (JPEG, PNG, WebP, GIF, TIFF, AVIF).' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; slow down.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  BAD_GATEWAY: { status: 502, message: 'The service behind the proxy is unavailable.' },
  NOT_READY: {
    status: 503,
    message: 'The service is not ready: no model host is live or Redis is unreachable.',
    retryAfterS: 1,
  },
  OVERLOADED: { status: 503, message: 'The service is at capacity; retry later.', retryAfterS: 1 },
  SHUTTING_DOWN: { status: 503, message: 'The server is shutting down; retry.', retryAfterS: 1 },
  DEADLINE_EXCEEDED: { status: 504, message: 'The request was not answered within its deadline.' },
} as const satisfies Record<string, { status: number; message: string; retryAfterS?: number }>;

export type ErrorCode = keyof typeof errorCodes;

export interface ErrorBody {
  success: false;
  error: { code: ErrorCode; message: string };
}

export function errorBody(code: ErrorCode, message: string = errorCodes[code].message): ErrorBody {
  return { success: false, error: { code, message } };
}

/**
 * The same error in the Open Inference Protocol's shape, `{"error": "message"}` (its only error field): the
 * registry's status and message, with the code in front of the message so clients and logs still see it.
 */
export interface ProtocolErrorBody {
  error: string;
}

export function protocolErrorBody(code: ErrorCode, message: string = errorCodes[code].message): ProtocolErrorBody {
  return { error: `${code}: ${message}` };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}
