/**
 * What a user would write instead of the service: a plain node:http server that reads the multipart upload,
 * decodes it with sharp and runs the model inline per request (no queue, no batching). WORKERS=n runs n
 * processes with node:cluster (the primary only distributes connections). DECODER=product decodes with the
 * service's own preprocessing (src/preprocess: same decoders, same resize) inline instead of sharp, which isolates
 * what the service's architecture costs. Prints "serving on http://...".
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage } from 'node:http';
import { resolve } from 'node:path';
import sharp from 'sharp';
import { readMetadata, type ModelMetadata } from '../../src/model/metadata.ts';
import { createPreprocessor } from '../../src/preprocess/preprocess-image.ts';
import type { InferenceEngine } from '../../src/model/engine.ts';

type Loader = (opts: { modelDir: string; meta: ModelMetadata; intraOpThreads: number }) => Promise<InferenceEngine>;

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks)));
    req.on('error', rej);
  });
}

/** The bytes of the multipart field `image` (a minimal parser, as a quick server would have). */
function imageFromMultipart(body: Buffer, contentType: string): Buffer | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) return undefined;
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  let pos = body.indexOf(boundary);
  while (pos >= 0) {
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) return undefined;
    const head = body.subarray(pos, headEnd).toString('latin1');
    const next = body.indexOf(boundary, headEnd + 4);
    if (next < 0) return undefined;
    if (/name="image"/.test(head)) return body.subarray(headEnd + 4, next - 2);
    pos = next;
  }
  return undefined;
}

export async function runNaiveServer(load: Loader): Promise<void> {
  const workers = Number(process.env.WORKERS ?? 1);
  const port = Number(process.env.PORT ?? 0);
  if (workers > 1 && cluster.isPrimary) {
    if (!port) throw new Error('PORT is required with WORKERS > 1');
    let ready = 0;
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('message', (_w, msg) => {
      if (msg === 'ready' && ++ready === workers) console.log(`serving on http://127.0.0.1:${port}`);
    });
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
      setTimeout(() => process.exit(0), 200);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    return;
  }

  const modelDir = resolve(process.env.MODEL_DIR ?? 'models/default');
  const meta = await readMetadata(modelDir);
  const engine = await load({ modelDir, meta, intraOpThreads: Number(process.env.INTRA_OP_THREADS ?? 1) });
  const { width, height } = meta.input;
  const { scale, mean, std } = meta.preprocessing;
  const input = new Float32Array(width * height * 3);
  await engine.run(input, 1); // warm-up
  const product =
    process.env.DECODER === 'product'
      ? createPreprocessor(meta, { maxInputPixels: 40_000_000, maxJpegScans: 100, jpegDctScaling: false })
      : undefined;

  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/predict') return send(404, { success: false });
      const body = await readAll(req);
      const image = imageFromMultipart(body, req.headers['content-type'] ?? '');
      if (!image) return send(400, { success: false });
      const x = new Float32Array(width * height * 3);
      if (product) {
        await product(image, x, 0);
      } else {
        const { data } = await sharp(image)
          .rotate()
          .flatten({ background: '#ffffff' })
          .toColourspace('srgb')
          .resize(width, height, { fit: 'fill' })
          .raw()
          .toBuffer({ resolveWithObject: true });
        for (let i = 0; i < x.length; i++) x[i] = (data[i]! * scale - mean[i % 3]!) / std[i % 3]!;
      }
      const scores = await engine.run(x, 1);
      const predictions = Array.from(scores, (p, i) => ({ label: meta.labels[i]!, probability: p }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, 5);
      send(200, { success: true, predictions });
    } catch (err) {
      send(500, { success: false, error: (err as Error).message });
    }
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    if (cluster.isWorker) process.send!('ready');
    else console.log(`serving on http://127.0.0.1:${addr.port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
