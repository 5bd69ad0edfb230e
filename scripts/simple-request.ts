/**
 * The original's simple_request: posts images to a running service and prints their ranked predictions.
 *
 *   npm run request -- [--url http://127.0.0.1:$PORT] [--topk 5] [--json] image [image ...]
 *
 * One request per file (multipart field "image"), sent concurrently. Exits 1 if any file failed, 2 on bad usage.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { serviceSchema } from '../src/config/config.ts';

/** The service's own PORT setting (its default when unset), so the tool finds a service started with the same one. */
const port = serviceSchema.shape.PORT.safeParse(process.env.PORT || undefined);
if (!port.success) {
  process.stderr.write(
    `PORT=${JSON.stringify(process.env.PORT)} is not a port: set it as for the service, or pass --url\n`,
  );
  process.exit(2);
}
const DEFAULT_URL = `http://127.0.0.1:${port.data}`;

const USAGE = `usage: simple-request [--url URL] [--topk N] [--json] image [image ...]
  --url   the service (default http://127.0.0.1:$PORT, PORT as the service reads it: ${DEFAULT_URL})
  --topk  predictions per image (default: the service's TOPK_DEFAULT)
  --json  print one JSON document: [{file, status, requestId, success, predictions | error}]`;

interface Prediction {
  label: string;
  probability: number;
}

interface Outcome {
  file: string;
  status: number;
  requestId: string | null;
  success: boolean;
  predictions?: Prediction[];
  error?: { code: string; message: string };
}

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
      url: { type: 'string', default: DEFAULT_URL },
      topk: { type: 'string' },
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
if (values.topk !== undefined && !/^[1-9]\d*$/.test(values.topk)) usage('--topk must be a positive integer');

const endpoint = new URL('predict', values.url.endsWith('/') ? values.url : `${values.url}/`);
if (values.topk) endpoint.searchParams.set('topk', values.topk);

async function classify(file: string): Promise<Outcome> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    return {
      file,
      status: 0,
      requestId: null,
      success: false,
      error: { code: 'READ_FAILED', message: (err as Error).message },
    };
  }
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)]), basename(file));
  try {
    const res = await fetch(endpoint, { method: 'POST', body: form });
    const requestId = res.headers.get('x-request-id');
    const text = await res.text();
    let body: { success?: boolean; predictions?: Prediction[]; error?: { code: string; message: string } };
    try {
      body = JSON.parse(text);
    } catch {
      return {
        file,
        status: res.status,
        requestId,
        success: false,
        error: { code: `HTTP_${res.status}`, message: text.slice(0, 200) },
      };
    }
    if (body.success && body.predictions)
      return { file, status: res.status, requestId, success: true, predictions: body.predictions };
    return {
      file,
      status: res.status,
      requestId,
      success: false,
      error: body.error ?? { code: `HTTP_${res.status}`, message: text.slice(0, 200) },
    };
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    return {
      file,
      status: 0,
      requestId: null,
      success: false,
      error: { code: 'UNREACHABLE', message: `${endpoint.origin}: ${cause?.message ?? (err as Error).message}` },
    };
  }
}

const outcomes = await Promise.all(files.map(classify));
if (values.json) {
  process.stdout.write(`${JSON.stringify(outcomes, null, 2)}\n`);
} else {
  for (const o of outcomes) {
    process.stdout.write(`${o.file}\n`);
    if (o.success) {
      const width = Math.max(...o.predictions!.map((p) => p.label.length));
      o.predictions!.forEach((p, i) =>
        process.stdout.write(`  ${i + 1}. ${p.label.padEnd(width)}  ${p.probability.toFixed(4)}\n`),
      );
    } else {
      process.stdout.write(`  error ${o.error!.code}${o.status ? ` (HTTP ${o.status})` : ''}: ${o.error!.message}\n`);
    }
  }
}
process.exit(outcomes.every((o) => o.success) ? 0 : 1);
