/**
 * The OpenTelemetry SDK's standard variables this service honours, validated with the rest of the settings
 * (config.ts merges this shape into its one schema). Tracing is on only when an exporter is configured: an OTLP
 * endpoint, or OTEL_TRACES_EXPORTER=otlp (then the SDK's default endpoint, localhost:4318). OTLP headers, timeout,
 * compression and certificates (OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, ...) are read by the OTLP exporter itself.
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const protocol = z.enum(['http/protobuf', 'http/json', 'grpc']).refine((p) => p !== 'grpc', {
  message: 'grpc is not supported: use http/protobuf or http/json (collectors take both on port 4318)',
});
const url = z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL');

export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export const tracingSettings = {
  /** `true`: no tracing whatever else is set (the SDK's kill switch). */
  OTEL_SDK_DISABLED: z
    .string()
    .toLowerCase()
    .pipe(z.enum(['true', 'false']))
    .default('false'),
  /** `otlp` or `none`; unset: otlp when an endpoint is set, else no tracing. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).optional(),
  /** Base URL of an OTLP/HTTP receiver; traces go to <it>/v1/traces. */
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
  /** Full URL for traces (wins over OTEL_EXPORTER_OTLP_ENDPOINT). */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol.default('http/protobuf'),
  /** Wins over OTEL_EXPORTER_OTLP_PROTOCOL for traces. */
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol.optional(),
  OTEL_TRACES_SAMPLER: z.enum(SAMPLERS).default('parentbased_always_on'),
  /** The ratio of the *traceidratio samplers, 0..1 (default 1). */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  /** Unset: image-classify-serving-frontend / -model-host, by role. */
  OTEL_SERVICE_NAME: z.string().min(1).max(256).optional(),
  /** `key=value,key=value` (values percent-encoded), added to every span's resource. */
  OTEL_RESOURCE_ATTRIBUTES: z
    .string()
    .regex(/^[^=,\s]+=[^,]*(,[^=,\s]+=[^,]*)*$/, 'key=value pairs separated by commas')
    .optional(),
  /** Batch span processor: ms between exports, export timeout, queue bound (spans beyond it are dropped), batch. */
  OTEL_BSP_SCHEDULE_DELAY: int(1, 600_000).default(5000),
  OTEL_BSP_EXPORT_TIMEOUT: int(1, 600_000).default(30_000),
  OTEL_BSP_MAX_QUEUE_SIZE: int(1, 1_000_000).default(2048),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: int(1, 1_000_000).default(512),
};

type Settings = z.infer<z.ZodObject<typeof tracingSettings>>;

/** Whether an exporter is configured; when not, no OpenTelemetry module is loaded at all. */
export function tracingEnabled(s: Settings): boolean {
  if (s.OTEL_SDK_DISABLED === 'true' || s.OTEL_TRACES_EXPORTER === 'none') return false;
  return (
    s.OTEL_TRACES_EXPORTER === 'otlp' ||
    s.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined
  );
}

/** The traces URL: the traces endpoint as given, else the base endpoint + /v1/traces, else the SDK's default. */
export function tracesUrl(s: Settings): string {
  if (s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = s.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}
