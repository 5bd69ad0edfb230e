/**
 * An in-process OTLP/HTTP trace receiver for tests: POST /v1/traces in either protocol, http/protobuf (decoded
 * with protobufjs from the OTLP messages' own field numbers, opentelemetry-proto trace.proto and common.proto) or
 * http/json, each span normalised with its resource's attributes. Listens on a port of its own on loopback. And the
 * checks of one traced request that the tests in-process, under `npm start` and in prod mode share.
 */
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';
import { waitUntil } from '../../scripts/lib/wait.ts';

const OTLP_TRACE_PROTO = `
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; Status status = 15;
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; }
}
`;
const Request = protobuf.parse(OTLP_TRACE_PROTO).root.lookupType('ExportTraceServiceRequest');

export type Attributes = Record<string, string | number | boolean>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attributes: Attributes;
  resource: Attributes;
  protocol: 'protobuf' | 'json';
}

interface RawKeyValue {
  key: string;
  value?: { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number };
}

function attributes(list: RawKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of list ?? []) {
    if (!value) continue;
    const v = value.stringValue ?? value.boolValue ?? value.doubleValue ?? value.intValue;
    if (v !== undefined) out[key] = typeof v === 'string' && value.intValue !== undefined ? Number(v) : v;
  }
  return out;
}

const hex = (v: unknown): string =>
  typeof v === 'string' ? v.toLowerCase() : Buffer.from(v as Uint8Array).toString('hex');

interface RawSpan {
  traceId: unknown;
  spanId: unknown;
  parentSpanId?: unknown;
  traceState?: string;
  name: string;
  kind?: number;
  status?: { code?: number };
  attributes?: RawKeyValue[];
}

interface RawRequest {
  resourceSpans?: Array<{ resource?: { attributes?: RawKeyValue[] }; scopeSpans?: Array<{ spans?: RawSpan[] }> }>;
}

/** The request in the JSON mapping's shape (camelCase names; ids hex in JSON, bytes in protobuf). */
function spansOf(body: RawRequest, protocol: ReceivedSpan['protocol']): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: s.parentSpanId ? hex(s.parentSpanId) : '',
          traceState: s.traceState ?? '',
          name: s.name,
          kind: Number(s.kind ?? 0),
          statusCode: Number(s.status?.code ?? 0),
          attributes: attributes(s.attributes),
          resource,
          protocol,
        });
      }
    }
  }
  return out;
}

export interface OtlpReceiver {
  /** Base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): traces arrive at <it>/v1/traces. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Export requests received, by path (anything but /v1/traces is a mistake of the exporter's URL). */
  requests: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(req.url ?? '');
      const body = Buffer.concat(chunks);
      const json = (req.headers['content-type'] ?? '').includes('json');
      const decoded = json
        ? (JSON.parse(body.toString('utf8')) as RawRequest)
        : (Request.toObject(Request.decode(body), { longs: String, bytes: Buffer }) as RawRequest);
      spans.push(...spansOf(decoded, json ? 'json' : 'protobuf'));
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The spans the model host exports for every request it serves, each a child of the front end's server span. */
export const HOST_SPANS = ['queue wait', 'preprocess', 'inference', 'publish'];

/** A caller's own span context, and the W3C traceparent that names it (sampled, or not). */
export function callerContext(sampled = true): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}

/** The spans of one trace, once every span named in `names` has arrived. */
export async function traceOf(receiver: OtlpReceiver, traceId: string, names: string[]): Promise<ReceivedSpan[]> {
  const spans = () => receiver.spans.filter((s) => s.traceId === traceId);
  await waitUntil(() => names.every((n) => spans().some((s) => s.name === n)), 30_000, `spans ${names.join(', ')}`);
  return spans();
}

/** One trace: the server span under the caller's span, every host stage under the server span. */
export function assertOneTrace(spans: ReceivedSpan[], serverName: string, callerSpanId: string): ReceivedSpan {
  const server = spans.find((s) => s.name === serverName)!;
  assert.equal(server.parentSpanId, callerSpanId, "the server span is the caller's child");
  assert.equal(server.kind, 2, 'SERVER');
  assert.equal(server.resource['classify.role'], 'frontend');
  for (const name of HOST_SPANS) {
    const span = spans.find((s) => s.name === name)!;
    assert.equal(span.parentSpanId, server.spanId, `${name} is a child of the server span, across Redis`);
    assert.equal(span.resource['classify.role'], 'model-host');
  }
  const admission = spans.find((s) => s.name === 'admission')!;
  assert.equal(admission.parentSpanId, server.spanId);
  return server;
}
