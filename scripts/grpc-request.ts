/**
 * `npm run request` over gRPC: a client of the Open Inference Protocol built from the specification's .proto
 * (src/wire/grpc_predict_v2.proto) with @grpc/proto-loader, as any user's generated client is. Sends the images in
 * one ModelInfer call (BYTES [N] in raw_input_contents, each with its 4-byte little-endian length, as tritonclient
 * does) asking for the top k through the classification extension, and prints them.
 *
 *   npm run request:grpc -- [--address 127.0.0.1:$GRPC_PORT] [--model M] [--version V] [--topk 5] [--json] image ...
 *
 * An API key, when the service requires one, comes from CLASSIFY_API_KEY (never a flag: flags show in `ps`).
 * Exits 1 when the call fails, 2 on bad usage.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { serviceSchema } from '../src/config/config.ts';
import { PROTO_PATH } from '../src/wire/open-inference-grpc.ts';

const port = serviceSchema.shape.GRPC_PORT.safeParse(process.env.GRPC_PORT || undefined);
const DEFAULT_ADDRESS = port.success && typeof port.data === 'number' ? `127.0.0.1:${port.data}` : undefined;

const USAGE = `usage: grpc-request [--address HOST:PORT] [--model NAME] [--version N] [--topk N] [--json] image [image ...]
  --address  the service's gRPC port (default 127.0.0.1:$GRPC_PORT, as the service reads it: ${DEFAULT_ADDRESS ?? 'none, GRPC_PORT is off or invalid'})
  --model    the model (default: default)
  --version  a model version (default: the newest ready)
  --topk     classes per image (default 5)
  --json     print the response as JSON: {model_name, model_version, id, results: [{file, top: [{label, index, score}]}]}
  CLASSIFY_API_KEY in the environment: the API key, sent as "authorization: Bearer <key>"`;

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      address: { type: 'string' },
      model: { type: 'string', default: 'default' },
      version: { type: 'string', default: '' },
      topk: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (err) {
  usage((err as Error).message);
}
const { values, positionals: files } = parsed;
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (files.length === 0) usage('no image given');
if (!/^[1-9]\d*$/.test(values.topk)) usage('--topk must be a positive integer');
const address = values.address ?? DEFAULT_ADDRESS;
if (!address) usage(`GRPC_PORT=${JSON.stringify(process.env.GRPC_PORT)} names no port: pass --address`);

/** BYTES elements as tritonclient serializes them: each a 4-byte little-endian length, then its bytes. */
function serializeBytes(elements: readonly Buffer[]): Buffer {
  return Buffer.concat(
    elements.flatMap((e) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(e.length);
      return [length, e];
    }),
  );
}

/** The classification output: N × k elements "score:index:label", each after its 4-byte length. */
function parseTop(raw: Buffer, n: number): Array<Array<{ label: string; index: number; score: number }>> {
  const all: Array<{ label: string; index: number; score: number }> = [];
  for (let at = 0; at + 4 <= raw.length; ) {
    const length = raw.readUInt32LE(at);
    const [score, index, ...label] = raw.toString('utf8', at + 4, at + 4 + length).split(':');
    all.push({ label: label.join(':'), index: Number(index), score: Number(score) });
    at += 4 + length;
  }
  const k = all.length / n;
  return Array.from({ length: n }, (_, i) => all.slice(i * k, (i + 1) * k));
}

const images = await Promise.all(
  files.map((f) =>
    readFile(f).catch((err: Error) => {
      process.stderr.write(`${f}: ${err.message}\n`);
      process.exit(1);
    }),
  ),
);
const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, defaults: true, oneofs: true });
const inference = (
  grpc.loadPackageDefinition(definition) as unknown as { inference: Record<string, grpc.ServiceClientConstructor> }
).inference;
const client = new inference.GRPCInferenceService!(address, grpc.credentials.createInsecure(), {
  'grpc.max_send_message_length': -1,
});
const metadata = new grpc.Metadata();
if (process.env.CLASSIFY_API_KEY) metadata.set('authorization', `Bearer ${process.env.CLASSIFY_API_KEY}`);
const request = {
  model_name: values.model,
  model_version: values.version,
  inputs: [{ name: 'input', datatype: 'BYTES', shape: [images.length] }],
  outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: Number(values.topk) } } }],
  raw_input_contents: [serializeBytes(images)],
};
type Response = { model_name: string; model_version: string; id: string; raw_output_contents: Buffer[] };
const infer = client.ModelInfer as unknown as (
  r: object,
  m: grpc.Metadata,
  o: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Response) => void,
) => void;
infer.call(client, request, metadata, { deadline: Date.now() + 30_000 }, (err, res) => {
  client.close();
  if (err || !res) {
    process.stderr.write(
      `${address}: ${grpc.status[err?.code ?? grpc.status.UNKNOWN]}: ${err?.details ?? 'no answer'}\n`,
    );
    process.exitCode = 1;
    return;
  }
  const top = parseTop(Buffer.from(res.raw_output_contents[0] ?? []), files.length);
  if (values.json) {
    const results = files.map((file, i) => ({ file, top: top[i] }));
    const { model_name, model_version, id } = res;
    process.stdout.write(`${JSON.stringify({ model_name, model_version, id, results }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`model ${res.model_name}, version ${res.model_version}\n`);
  files.forEach((file, i) => {
    process.stdout.write(`${file}\n`);
    const rows = top[i] ?? [];
    const width = Math.max(...rows.map((p) => p.label.length));
    rows.forEach((p, j) => process.stdout.write(`  ${j + 1}. ${p.label.padEnd(width)}  ${p.score.toFixed(4)}\n`));
  });
});
