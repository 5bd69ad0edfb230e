/**
 * The load generator's gRPC client: ModelInfer calls over grpc-js, the request messages encoded once beforehand
 * and the answers not decoded (only their status checked), so the client costs as little per call as the HTTP
 * client that posts prepared bodies. One connection by default, as a gRPC client normally uses.
 */
import { Client, credentials, status } from '@grpc/grpc-js';
import { inferenceService, type ModelInferRequest } from '../../src/wire/open-inference-grpc.ts';
import type { Image } from './images.ts';
import type { Poster } from './loadgen.ts';

const PATH = inferenceService.ModelInfer!.path;
const identity = (b: Buffer) => b;

/** One image as BYTES [1] in raw_input_contents, with its 4-byte little-endian length. */
export function grpcBytesRequest(model: string, img: Image): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32LE(img.bytes.length);
  const request: Partial<ModelInferRequest> = {
    model_name: model,
    inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], parameters: {}, contents: null }],
    raw_input_contents: [Buffer.concat([length, img.bytes])],
  };
  return inferenceService.ModelInfer!.requestSerialize(request);
}

export class GrpcLoadClient implements Poster {
  private readonly clients: Client[];
  private next = 0;

  constructor(
    address: string,
    private readonly requests: Buffer[],
    connections = 1,
  ) {
    // A local subchannel pool per client: each its own connection (grpc-js shares one between equal clients).
    const options = connections > 1 ? { 'grpc.use_local_subchannel_pool': 1 } : {};
    this.clients = Array.from(
      { length: connections },
      () => new Client(address, credentials.createInsecure(), options),
    );
  }

  post(): Promise<{ status: number | string; ok: boolean }> {
    const i = this.next++;
    const client = this.clients[i % this.clients.length]!;
    const request = this.requests[i % this.requests.length]!;
    return new Promise((resolve) =>
      client.makeUnaryRequest(PATH, identity, identity, request, (err, answer) => {
        if (err) resolve({ status: status[err.code] ?? String(err.code), ok: false });
        else resolve({ status: 'OK', ok: (answer?.length ?? 0) > 0 });
      }),
    );
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
  }
}
