/**
 * A gRPC client of the Open Inference Protocol as a user builds one: @grpc/proto-loader and grpc-js from the
 * specification's .proto (the service's own codec, src/wire/open-inference-grpc.ts, is not used), each call
 * resolving with its message or its status, with the response's header and trailer metadata.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO = new URL('../../src/wire/grpc_predict_v2.proto', import.meta.url).pathname;

export interface Outcome<T = Record<string, unknown>> {
  /** The response message, when the status is OK. */
  message?: T;
  code: grpc.status;
  details: string;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
}

export interface CallOptions {
  metadata?: Record<string, string>;
  /** ms from now */
  deadlineMs?: number;
}

type RawClient = grpc.Client &
  Record<string, grpc.requestCallback<unknown> & ((...args: unknown[]) => grpc.ClientUnaryCall)>;

export class InferenceClient {
  private readonly client: RawClient;

  constructor(address: string, options: grpc.ClientOptions = {}) {
    const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      inference: {
        GRPCInferenceService: new (a: string, c: grpc.ChannelCredentials, o: grpc.ClientOptions) => RawClient;
      };
    };
    this.client = new pkg.inference.GRPCInferenceService(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...options,
    });
  }

  call<T = Record<string, unknown>>(rpc: string, request: object, opts: CallOptions = {}): Promise<Outcome<T>> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) metadata.set(k, v);
    const callOptions = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
    return new Promise((resolve) => {
      let headers = new grpc.Metadata();
      let message: T | undefined;
      const method = this.client[rpc] as unknown as (
        req: object,
        md: grpc.Metadata,
        o: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res?: T) => void,
      ) => grpc.ClientUnaryCall;
      // grpc-js calls back first, then emits the status with the trailers.
      const call = method.call(this.client, request, metadata, callOptions, (_err, res) => {
        message = res;
      });
      call.on('metadata', (m: grpc.Metadata) => {
        headers = m;
      });
      call.on('status', (s: grpc.StatusObject) =>
        resolve({
          ...(s.code === grpc.status.OK && { message }),
          code: s.code,
          details: s.details,
          headers,
          trailers: s.metadata,
        }),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** BYTES elements as tritonclient serializes them: each a 4-byte little-endian length, then its bytes. */
export function serializeBytes(elements: readonly Uint8Array[]): Buffer {
  return Buffer.concat(
    elements.flatMap((e) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(e.byteLength);
      return [len, Buffer.from(e)];
    }),
  );
}

/** The other way round, checking every length. */
export function deserializeBytes(raw: Uint8Array): Buffer[] {
  const b = Buffer.from(raw);
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    const n = b.readUInt32LE(at);
    out.push(b.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}
