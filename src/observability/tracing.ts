/**
 * Tracing as the request path sees it: a small facade, so that with tracing off (no exporter configured) no
 * OpenTelemetry module is ever loaded and every hook is one `undefined` check. startTracing loads the SDK
 * (otel-tracer.ts) only when tracing-settings.ts says an exporter is configured.
 */
import type { Config } from '../config/config.ts';
import { tracingEnabled } from '../config/tracing-settings.ts';
import type { Tracer, TracingRole } from './tracer.ts';

/** The process's tracer, or undefined (and nothing loaded) when no exporter is configured. */
export async function startTracing(config: Config, role: TracingRole, instance: string): Promise<Tracer | undefined> {
  if (!tracingEnabled(config)) return undefined;
  const { OtelTracer } = await import('./otel-tracer.ts');
  return new OtelTracer(config, role, instance);
}
