/** The tracing facade's types (tracing.ts starts one; otel-tracer.ts implements it on the OpenTelemetry SDK). */

export type SpanAttributes = Record<string, string | number | boolean>;

/** W3C trace context as HTTP headers and the stream entry carry it. */
export interface TraceFields {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

export interface Span {
  setAttributes(attributes: SpanAttributes): void;
  /** Records an error: status ERROR, `error.type` and `classify.error.code` set to the code. */
  fail(code: string, message?: string): void;
  /** Ends the span now or at `endTime` (epoch ms). */
  end(endTime?: number): void;
  /** This span's context for the next process: traceparent, and the caller's tracestate. */
  propagation(): TraceFields;
}

export type SpanKindName = 'server' | 'consumer' | 'producer' | 'internal';

export interface Tracer {
  /**
   * Starts a span under `parent`: a span of this process, or a propagated context (the caller's headers, a
   * stream entry's fields; invalid or absent: a new trace). `startTime` in epoch ms, default now.
   */
  start(
    name: string,
    parent: Span | TraceFields | undefined,
    attributes?: SpanAttributes,
    kind?: SpanKindName,
    startTime?: number,
  ): Span;
  /** Exports what is buffered (tests, and before exit). */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

export type TracingRole = 'frontend' | 'model-host';
