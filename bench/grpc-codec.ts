/**
 * How to decode and encode the gRPC messages (issue 24): @grpc/proto-loader (protobufjs 7, decode + toObject)
 * against protobufjs reflection (decode only, fields read from the message), on the messages ModelInfer carries:
 * 16 photos in raw_input_contents, one FP32 image tensor raw, the same tensor as fp32_contents, and a response.
 * CPU time per message, one process, one run; the figures are ratios measured side by side.
 *
 *   node --import tsx bench/grpc-codec.ts
 */
import { cpus } from 'node:os';
import protobuf from 'protobufjs';
import * as protoLoader from '@grpc/proto-loader';
import { Bench } from 'tinybench';
import { exampleImages } from './lib/images.ts';

const PROTO = new URL('../src/wire/grpc_predict_v2.proto', import.meta.url).pathname;
const root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
const Req = root.lookupType('inference.ModelInferRequest');
const Res = root.lookupType('inference.ModelInferResponse');
const loader = protoLoader.loadSync(PROTO, {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const infer = (loader['inference.GRPCInferenceService'] as Record<string, protoLoader.MethodDefinition<object, object>>)
  .ModelInfer!;

const photos = exampleImages().map((p) => p.bytes);
const bytesTensor = Buffer.concat(
  Array.from({ length: 16 }, (_, i) => photos[i % photos.length]!).flatMap((b) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  }),
);
const floats = new Float32Array(224 * 224 * 3).map((_, i) => (i % 255) / 255);
const input = (datatype: string, shape: number[]) => ({ name: 'input', datatype, shape });
const messages = {
  '16 photos raw': Req.encode(
    Req.fromObject({ model_name: 'default', inputs: [input('BYTES', [16])], raw_input_contents: [bytesTensor] }),
  ).finish(),
  'FP32 224²×3 raw': Req.encode(
    Req.fromObject({
      model_name: 'default',
      inputs: [input('FP32', [1, 224, 224, 3])],
      raw_input_contents: [Buffer.from(floats.buffer)],
    }),
  ).finish(),
  'FP32 224²×3 contents': Req.encode(
    Req.fromObject({
      model_name: 'default',
      inputs: [{ ...input('FP32', [1, 224, 224, 3]), contents: { fp32_contents: Array.from(floats) } }],
    }),
  ).finish(),
};
const response = {
  model_name: 'default',
  model_version: '1',
  id: 'a-request',
  outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [16, 5] }],
  raw_output_contents: [Buffer.alloc(16 * 5 * 4, 7)],
};

const bench = new Bench({ time: Number(process.env.BENCH_MS ?? 1000) });
for (const [name, bytes] of Object.entries(messages)) {
  const buf = Buffer.from(bytes);
  bench.add(`decode ${name}: proto-loader`, () => infer.requestDeserialize(buf));
  bench.add(`decode ${name}: protobufjs`, () => Req.decode(buf));
}
for (const [name, bytes] of Object.entries(messages)) console.log(name, bytes.length, 'bytes');
bench.add('encode response: proto-loader', () => infer.responseSerialize(response));
bench.add('encode response: protobufjs', () => Res.encode(Res.fromObject(response)).finish());
await bench.run();
console.log(`CPU: ${cpus()[0]?.model}`);
console.table(
  bench.tasks.map((t) => ({
    task: t.name,
    'µs/op (mean)': (((t.result as unknown as { latency?: { mean: number } }).latency?.mean ?? 0) * 1000).toFixed(1),
  })),
);
