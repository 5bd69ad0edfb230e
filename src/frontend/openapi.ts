/**
 * The service's OpenAPI 3.1 document, served at GET /openapi.json. Schemas are JSON Schema 2020-12 and strict
 * (additionalProperties: false where the service controls the shape); test/integration/openapi.test.ts
 * validates live responses against them, so a change to a response shape must change this file too.
 */
import { PACKAGE } from '../config/package-info.ts';
import { TOPK_MAX } from '../config/config.ts';
import { errorCodes } from '../wire/errors.ts';

const requestIdHeader = { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string, headers: object = requestIdHeader) => ({
  description,
  headers,
  content: { 'application/json': { schema } },
});
const errorResponse = (description: string) => json(ref('Error'), description);
const retryHeaders = {
  ...requestIdHeader,
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } },
};
const challengeHeaders = {
  ...requestIdHeader,
  'WWW-Authenticate': { description: 'Bearer realm="image-classify"', schema: { type: 'string' } },
};
const unauthorized = json(
  ref('Error'),
  'UNAUTHORIZED: no key or an unknown key (only when API keys are on).',
  challengeHeaders,
);
/** Keys are off by default: each guarded operation accepts no credential or a bearer key. */
const optionalKey = [{}, { apiKey: [] }];

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Image classification service',
    version: PACKAGE.version,
    description:
      'Classifies images with a batched model behind Redis Streams. POST an image to /predict as multipart/form-data ' +
      '(field "image", repeatable) or as the raw body with an image/* Content-Type. Every response carries X-Request-Id; ' +
      'a valid incoming X-Request-Id is reused.',
  },
  paths: {
    '/predict': {
      post: {
        operationId: 'predict',
        summary: 'Classify one image, or several in one request',
        security: optionalKey,
        description:
          'One image answers {success, predictions}. Several "image" fields (up to MAX_IMAGES_PER_REQUEST, default 16) answer ' +
          '{success, results} with one entry per image in upload order; an image that fails fails alone. When no image ' +
          'succeeded and all failed with the same code, the request fails with that code instead.',
        parameters: [
          {
            name: 'model',
            in: 'query',
            required: false,
            description: 'The model to use, by its name in GET /v1/models (default DEFAULT_MODEL).',
            schema: { type: 'string' },
          },
          {
            name: 'version',
            in: 'query',
            required: false,
            description: 'Pins a version of the model (default: the newest version ready on some host).',
            schema: { type: 'integer', minimum: 1 },
          },
          {
            name: 'topk',
            in: 'query',
            required: false,
            description: 'Predictions per image (default TOPK_DEFAULT, capped at the number of classes).',
            schema: { type: 'integer', minimum: 1, maximum: TOPK_MAX },
          },
          {
            name: 'X-Request-Id',
            in: 'header',
            required: false,
            description: 'Reused for logs and the response header when it matches [A-Za-z0-9._:-]{1,128}.',
            schema: { type: 'string' },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['image'],
                properties: {
                  image: {
                    description: 'The image (JPEG, PNG, WebP, GIF, TIFF, AVIF); repeat the field to send several.',
                    oneOf: [
                      { type: 'string', format: 'binary' },
                      { type: 'array', items: { type: 'string', format: 'binary' } },
                    ],
                  },
                },
              },
            },
            'image/*': { schema: { type: 'string', format: 'binary' } },
          },
        },
        responses: {
          200: json({ oneOf: [ref('Predictions'), ref('MultiPredictions')] }, 'Predictions, ranked by probability.'),
          400: errorResponse('MISSING_IMAGE, INVALID_IMAGE, BAD_REQUEST or TOO_MANY_IMAGES.'),
          408: errorResponse('BODY_TIMEOUT: the body did not arrive in time.'),
          413: errorResponse('BODY_TOO_LARGE or IMAGE_TOO_LARGE.'),
          401: unauthorized,
          404: errorResponse('MODEL_NOT_FOUND: ?model= names no model served here.'),
          415: errorResponse('UNSUPPORTED_MEDIA_TYPE.'),
          429: json(
            ref('Error'),
            'RATE_LIMITED: this key is over its rate limit; retry after Retry-After seconds.',
            retryHeaders,
          ),
          500: errorResponse('INTERNAL.'),
          503: json(
            ref('Error'),
            'NOT_READY, OVERLOADED or SHUTTING_DOWN; retry after Retry-After seconds.',
            retryHeaders,
          ),
          504: errorResponse('DEADLINE_EXCEEDED: not answered within REQUEST_TIMEOUT_MS.'),
        },
      },
    },
    '/v1/models': {
      get: {
        operationId: 'listModels',
        summary: 'The models the live model hosts serve',
        security: optionalKey,
        responses: {
          401: unauthorized,
          429: json(ref('Error'), 'RATE_LIMITED: this key is over its rate limit.', retryHeaders),
          200: json(
            ref('Models'),
            'One entry per distinct model/engine/backend/batch size, with how many hosts serve it.',
          ),
          503: json(ref('Error'), 'NOT_READY: Redis is unreachable.', retryHeaders),
        },
      },
    },
    // The Open Inference Protocol (KServe V2): its own schemas are the specification's (open_inference_rest.yaml,
    // kserve/open-inference-protocol); here the operations, with their error shape ProtocolError.
    '/v2': {
      get: {
        operationId: 'v2ServerMetadata',
        summary:
          'Open Inference Protocol: server metadata (name, version, extensions binary_tensor_data and classification)',
        responses: { 200: json({ type: 'object' }, 'metadata_server_response.') },
      },
    },
    '/v2/health/live': {
      get: {
        operationId: 'v2Live',
        summary: 'Open Inference Protocol: liveness',
        responses: { 200: json({ type: 'object' }, '{"live": true}.') },
      },
    },
    '/v2/health/ready': {
      get: {
        operationId: 'v2Ready',
        summary: 'Open Inference Protocol: readiness (as /readyz)',
        responses: {
          200: json({ type: 'object' }, '{"ready": true}.'),
          503: json({ type: 'object' }, '{"ready": false}.'),
        },
      },
    },
    '/v2/models/{name}': {
      get: {
        operationId: 'v2ModelMetadata',
        summary:
          'Open Inference Protocol: model metadata — input "input" FP32 [-1, H, W, C], output "probabilities" FP32 [-1, classes], platform naming the engine; also under /versions/{v}',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          200: json({ type: 'object' }, 'metadata_model_response.'),
          404: json(ref('ProtocolError'), 'MODEL_NOT_FOUND.'),
        },
      },
    },
    '/v2/models/{name}/ready': {
      get: {
        operationId: 'v2ModelReady',
        summary: 'Open Inference Protocol: whether a live host serves the model; also under /versions/{v}',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          200: json({ type: 'object' }, '{"name", "ready": true}.'),
          503: json({ type: 'object' }, '{"name", "ready": false}.'),
          404: json(ref('ProtocolError'), 'MODEL_NOT_FOUND.'),
        },
      },
    },
    '/v2/models/{name}/infer': {
      post: {
        operationId: 'v2Infer',
        summary: 'Open Inference Protocol: inference; also under /versions/{v}',
        description:
          'One input, "input": FP32 [N, H, W, C] (JSON data flat or nested, or binary data) goes into the batch as it is; ' +
          'BYTES [N] carries encoded images through the binary data extension (4-byte little-endian length + bytes each), ' +
          'preprocessed as /predict. Output "probabilities" FP32 [N, classes], or with parameters.classification k the top k ' +
          'as BYTES "score:index:label"; binary_data / binary_data_output return it as binary data after the JSON ' +
          '(Inference-Header-Content-Length). parameters.timeout (µs) shortens the deadline.',
        security: optionalKey,
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { type: 'object' } },
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
          },
        },
        responses: {
          200: {
            description: 'inference_response (JSON, or JSON + binary data).',
            headers: requestIdHeader,
            content: {
              'application/json': { schema: { type: 'object' } },
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            },
          },
          400: json(
            ref('ProtocolError'),
            'BAD_REQUEST (shape, datatype, binary header), TOO_MANY_IMAGES, MISSING_IMAGE, INVALID_IMAGE.',
          ),
          404: json(ref('ProtocolError'), 'MODEL_NOT_FOUND.'),
          413: json(ref('ProtocolError'), 'BODY_TOO_LARGE or IMAGE_TOO_LARGE.'),
          415: json(ref('ProtocolError'), 'UNSUPPORTED_MEDIA_TYPE: an element is not an image.'),
          503: json(
            ref('ProtocolError'),
            'NOT_READY, OVERLOADED or SHUTTING_DOWN; retry after Retry-After seconds.',
            retryHeaders,
          ),
          504: json(ref('ProtocolError'), 'DEADLINE_EXCEEDED (REQUEST_TIMEOUT_MS or parameters.timeout).'),
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness: the process answers',
        responses: { 200: json(ref('Health'), 'Alive.') },
      },
    },
    '/readyz': {
      get: {
        operationId: 'ready',
        summary: 'Readiness: Redis answers and at least one model host is live',
        responses: { 200: json(ref('Ready'), 'Ready.'), 503: json(ref('NotReady'), 'Not ready.') },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics of the whole deployment (all live front ends and model hosts, summed)',
        security: [{}, { metricsKey: [] }],
        responses: {
          200: {
            description: 'Prometheus text exposition format 0.0.4.',
            headers: requestIdHeader,
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          401: json(ref('Error'), 'UNAUTHORIZED: METRICS_KEY is set and was not presented.', challengeHeaders),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1 document.') },
      },
    },
    '/': {
      get: {
        operationId: 'demoPage',
        summary: 'A demo page: pick or drop an image and see its predictions; includes a curl example',
        responses: {
          200: {
            description: 'Static HTML.',
            headers: requestIdHeader,
            content: { 'text/html': { schema: { type: 'string' } } },
          },
        },
      },
    },
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'http', scheme: 'bearer', description: 'A key from API_KEYS_FILE (`npm run keys:add -- NAME`).' },
      metricsKey: { type: 'http', scheme: 'bearer', description: 'METRICS_KEY.' },
    },
    headers: {
      'X-Request-Id': { description: "The request id, as in the service's logs.", schema: { type: 'string' } },
    },
    schemas: {
      Prediction: {
        type: 'object',
        required: ['label', 'probability'],
        additionalProperties: false,
        properties: { label: { type: 'string' }, probability: { type: 'number', minimum: 0, maximum: 1 } },
      },
      PredictionList: { type: 'array', items: ref('Prediction'), description: 'Ranked, most probable first.' },
      Predictions: {
        type: 'object',
        required: ['success', 'predictions'],
        additionalProperties: false,
        properties: { success: { const: true }, predictions: ref('PredictionList') },
      },
      ImageResult: {
        oneOf: [
          {
            type: 'object',
            required: ['success', 'predictions'],
            additionalProperties: false,
            properties: { success: { const: true }, predictions: ref('PredictionList') },
          },
          {
            type: 'object',
            required: ['success', 'error'],
            additionalProperties: false,
            properties: { success: { const: false }, error: ref('ErrorDetail') },
          },
        ],
      },
      MultiPredictions: {
        type: 'object',
        required: ['success', 'results'],
        additionalProperties: false,
        properties: {
          success: { const: true },
          results: { type: 'array', items: ref('ImageResult'), description: 'One per image, in upload order.' },
        },
      },
      ErrorCode: { type: 'string', enum: Object.keys(errorCodes) },
      ErrorDetail: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: { code: ref('ErrorCode'), message: { type: 'string' } },
      },
      Error: {
        type: 'object',
        required: ['success', 'error'],
        additionalProperties: false,
        properties: { success: { const: false }, error: ref('ErrorDetail') },
      },
      ProtocolError: {
        type: 'object',
        required: ['error'],
        additionalProperties: false,
        properties: { error: { type: 'string', description: '"CODE: message", the code from the error registry.' } },
      },
      Health: {
        type: 'object',
        required: ['status'],
        additionalProperties: false,
        properties: { status: { const: 'alive' } },
      },
      ModelHost: {
        type: 'object',
        required: ['id', 'model', 'engine', 'backend', 'format', 'maxBatch', 'startedAt', 'heartbeatAt'],
        properties: {
          id: { type: 'string' },
          model: { type: 'string' },
          engine: { type: 'string' },
          backend: { type: 'string' },
          format: { type: 'string' },
          maxBatch: { type: 'string', description: 'Redis hash fields are strings.' },
          startedAt: { type: 'string' },
          heartbeatAt: { type: 'string' },
        },
      },
      Ready: {
        type: 'object',
        description: 'Strangers get `ready` only; the other fields come with the METRICS_KEY bearer key (operators).',
        required: ['ready'],
        additionalProperties: false,
        properties: {
          ready: { const: true },
          redis: { const: 'ok' },
          modelHosts: { type: 'array', minItems: 1, items: ref('ModelHost') },
          httpServer: ref('HttpServer'),
          uws: { type: 'string', description: 'The native uWebSockets.js binary serving (uws only).' },
          draining: { const: false },
        },
      },
      NotReady: {
        type: 'object',
        description:
          'Strangers get `success`, `ready` and `error`; the other fields come with the METRICS_KEY bearer key.',
        required: ['success', 'ready', 'error'],
        properties: {
          success: { const: false },
          ready: { const: false },
          error: ref('ErrorDetail'),
          redis: { type: 'string' },
          modelHosts: { type: 'array', items: ref('ModelHost') },
          httpServer: ref('HttpServer'),
          uws: { type: 'string' },
          draining: { type: 'boolean' },
          modelsWithoutHost: {
            type: 'array',
            items: { type: 'string' },
            description: 'Configured models no live host serves.',
          },
        },
      },
      Model: {
        type: 'object',
        required: ['name', 'title', 'format', 'engine', 'backend', 'maxBatch', 'hosts'],
        additionalProperties: false,
        properties: {
          name: {
            type: 'string',
            description: 'The serving name (its directory in the model repository): /predict?model=NAME.',
          },
          version: { type: 'integer', minimum: 1, description: 'Which version of the model this entry is.' },
          versions: {
            type: 'array',
            description: 'Every version of the model the live hosts hold, with its state across them.',
            items: {
              type: 'object',
              required: ['version', 'state', 'hosts'],
              additionalProperties: false,
              properties: {
                version: { type: 'integer', minimum: 1 },
                state: { enum: ['loading', 'ready', 'unloading', 'failed', 'unavailable'] },
                reason: { type: 'string' },
                hosts: {
                  type: 'object',
                  additionalProperties: { type: 'integer' },
                  description: 'Hosts holding it, by state.',
                },
              },
            },
          },
          title: { type: 'string', description: "The name in the model's metadata.json." },
          format: { type: 'string', description: 'layers or graph (TF.js), onnx (ONNX Runtime).' },
          engine: { type: 'string', enum: ['onnx', 'tfjs'] },
          backend: { type: 'string', description: 'TF.js backend or ONNX Runtime execution provider.' },
          maxBatch: { type: 'integer', minimum: 1 },
          input: {
            type: 'object',
            required: ['height', 'width', 'channels', 'layout'],
            additionalProperties: false,
            properties: {
              height: { type: 'integer' },
              width: { type: 'integer' },
              channels: { type: 'integer' },
              layout: { enum: ['NHWC', 'NCHW'] },
            },
          },
          preprocessing: {
            type: 'object',
            required: ['channelOrder', 'scale', 'mean', 'std'],
            additionalProperties: false,
            properties: {
              channelOrder: { enum: ['RGB', 'BGR'] },
              scale: { type: 'number' },
              mean: { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 },
              std: { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 },
              resize: {
                type: 'object',
                description:
                  'How the decoded image is brought to the input size (model metadata `preprocessing.resize`).',
                properties: {
                  method: { enum: ['bilinear', 'area', 'lanczos3'] },
                  alignCorners: { type: 'boolean' },
                  halfPixelCenters: { type: 'boolean' },
                  fit: { enum: ['fill', 'cover'] },
                },
              },
            },
          },
          output: { enum: ['probabilities', 'logits'] },
          labels: { type: 'array', items: { type: 'string' } },
          hosts: { type: 'integer', minimum: 1 },
        },
      },
      Models: {
        type: 'object',
        required: ['success', 'httpServer', 'models'],
        additionalProperties: false,
        properties: {
          success: { const: true },
          httpServer: ref('HttpServer'),
          models: { type: 'array', items: ref('Model') },
        },
      },
      HttpServer: {
        enum: ['uws', 'node'],
        description: "The front end's HTTP server: uWebSockets.js, or Node's http module.",
      },
    },
  },
} as const;
