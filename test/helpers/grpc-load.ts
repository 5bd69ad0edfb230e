/**
 * gRPC load for tests: `total` ModelInfer calls with `concurrency` in flight at once over one client, each a small
 * PNG as BYTES in raw_input_contents; every outcome recorded by status.
 */
import { status } from '@grpc/grpc-js';
import { type InferenceClient, serializeBytes } from './grpc-client.ts';

export interface GrpcLoadResult {
  /** Outcomes by status name, e.g. { OK: 200 }. */
  byStatus: Record<string, number>;
  /** The front ends that answered (x-served-by), when they say. */
  servedBy: Set<string>;
  ms: number;
}

export async function grpcLoad(
  client: InferenceClient,
  image: Uint8Array,
  total: number,
  concurrency: number,
  metadata: Record<string, string> = {},
): Promise<GrpcLoadResult> {
  const byStatus: Record<string, number> = {};
  const servedBy = new Set<string>();
  const request = {
    model_name: 'default',
    inputs: [{ name: 'input', datatype: 'BYTES', shape: [1] }],
    raw_input_contents: [serializeBytes([image])],
  };
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const o = await client.call<{ outputs: Array<{ shape: number[] }> }>('ModelInfer', request, { metadata });
      const ok = o.code === status.OK && o.message?.outputs[0]?.shape.join(',') === '1,5';
      const name = ok ? 'OK' : `${status[o.code]}${o.code === status.OK ? ' (wrong answer)' : ''}`;
      byStatus[name] = (byStatus[name] ?? 0) + 1;
      const by = o.headers.get('x-served-by')[0];
      if (typeof by === 'string') servedBy.add(by);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { byStatus, servedBy, ms: Date.now() - started };
}
