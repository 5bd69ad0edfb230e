/**
 * The Tracer facade on the OpenTelemetry JS SDK, loaded only when tracing is on: one TracerProvider per
 * component (a front end and a model host in one `npm start` process each name their own role), an OTLP/HTTP
 * exporter (protobuf or JSON), the standard samplers, the batch span processor, and W3C trace context parsed and
 * written without a global propagator or context manager (parents are always passed explicitly).
 */
import { hostname } from 'node:os';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span as OtelSpan,
  type TextMapGetter,
  type Tracer as OtelApiTracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Config } from '../config/config.ts';
import { tracesUrl } from '../config/tracing-settings.ts';
import { PACKAGE } from '../config/package-info.ts';
import type { Span, SpanAttributes, SpanKindName, TraceFields, Tracer, TracingRole } from './tracer.ts';

const KINDS: Record<SpanKindName, SpanKind> = {
  server: SpanKind.SERVER,
  consumer: SpanKind.CONSUMER,
  producer: SpanKind.PRODUCER,
  internal: SpanKind.INTERNAL,
};

const propagator = new W3CTraceContextPropagator();
const fieldsGetter: TextMapGetter<TraceFields> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
};

function sampler(config: Config): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG ?? 1);
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function exporter(config: Config): SpanExporter {
  const protocol = config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL;
  const url = tracesUrl(config);
  return protocol === 'http/json' ? new JsonExporter({ url }) : new ProtoExporter({ url });
}

/** OTEL_RESOURCE_ATTRIBUTES: `k=v,k=v`, values percent-encoded (the specification's format). */
function resourceAttributes(raw: string | undefined): SpanAttributes {
  const out: SpanAttributes = {};
  for (const pair of raw ? raw.split(',') : []) {
    const at = pair.indexOf('=');
    out[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return out;
}

class OtelSpanHandle implements Span {
  constructor(
    readonly span: OtelSpan,
    private readonly tracestate: string | undefined,
  ) {}

  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(attributes);
  }

  fail(code: string, message?: string): void {
    this.span.setAttributes({ 'error.type': code, 'classify.error.code': code });
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? code });
  }

  end(endTime?: number): void {
    this.span.end(endTime);
  }

  propagation(): TraceFields {
    const { traceId, spanId, traceFlags } = this.span.spanContext();
    const traceparent = `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
    return this.tracestate ? { traceparent, tracestate: this.tracestate } : { traceparent };
  }
}

export class OtelTracer implements Tracer {
  private readonly provider: TracerProvider;
  private readonly tracer: OtelApiTracer;
  /** Propagated contexts parsed once per carrier (a request's entry is a parent at every stage on the host). */
  private readonly parsed = new WeakMap<TraceFields, Context>();

  constructor(config: Config, role: TracingRole, instance: string) {
    this.provider = new TracerProvider({
      sampler: sampler(config),
      resource: resourceFromAttributes({
        'service.name': config.OTEL_SERVICE_NAME ?? `${PACKAGE.name}-${role}`,
        'service.version': PACKAGE.version,
        'service.instance.id': instance,
        'classify.role': role,
        'process.pid': process.pid,
        'process.runtime.name': 'nodejs',
        'process.runtime.version': process.versions.node,
        'host.name': hostname(),
        ...resourceAttributes(config.OTEL_RESOURCE_ATTRIBUTES),
      }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: exporter(config),
          scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY,
          exportTimeoutMillis: config.OTEL_BSP_EXPORT_TIMEOUT,
          maxQueueSize: config.OTEL_BSP_MAX_QUEUE_SIZE,
          maxExportBatchSize: Math.min(config.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, config.OTEL_BSP_MAX_QUEUE_SIZE),
        }),
      ],
    });
    this.tracer = this.provider.getTracer(PACKAGE.name, PACKAGE.version);
  }

  start(
    name: string,
    parent: Span | TraceFields | undefined,
    attributes?: SpanAttributes,
    kind: SpanKindName = 'internal',
    startTime?: number,
  ): Span {
    let context = ROOT_CONTEXT;
    let tracestate: string | undefined;
    if (parent instanceof OtelSpanHandle) {
      context = trace.setSpan(ROOT_CONTEXT, parent.span);
      tracestate = parent.propagation().tracestate;
    } else if (parent && (parent as TraceFields).traceparent !== undefined) {
      context = this.remote(parent as TraceFields);
      tracestate = (parent as TraceFields).tracestate;
    }
    const span = this.tracer.startSpan(name, { kind: KINDS[kind], attributes, startTime }, context);
    return new OtelSpanHandle(span, tracestate);
  }

  private remote(fields: TraceFields): Context {
    let context = this.parsed.get(fields);
    if (!context) this.parsed.set(fields, (context = propagator.extract(ROOT_CONTEXT, fields, fieldsGetter)));
    return context;
  }

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
