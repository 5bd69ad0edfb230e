/**
 * A client that pipelines requests on one connection and never reads the answers: how much the front end holds
 * for it, per HTTP server. Prints the requests written, what the client still buffers, and the service's RSS.
 *
 *   node --import tsx bench/unread-answers.ts [uws|node]
 */
import { connect } from 'node:net';
import { startTestService } from '../scripts/lib/in-process-service.ts';
const kind = process.argv[2] ?? 'uws';
const svc = await startTestService({ HTTP_SERVER: kind });
const before = process.memoryUsage().rss;
const sock = connect(svc.frontend.port, '127.0.0.1');
sock.pause(); // never reads the answers
const req = Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
const batch = Buffer.alloc(req.length * 1000, req);
let sent = 0;
await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
const started = Date.now();
while (sent < 200_000 && Date.now() - started < 60_000) {
  const ok = sock.write(batch);
  sent += 1000;
  if (!ok) await Promise.race([new Promise((r) => sock.once('drain', r)), new Promise((r) => setTimeout(r, 2000))]);
  if (!ok && sock.writableLength > 50 * 1024 * 1024) break;
}
await new Promise((r) => setTimeout(r, 2000));
const after = process.memoryUsage().rss;
console.log(
  `${kind}: wrote ${sent} pipelined requests (${((sent * req.length) / 1e6).toFixed(1)} MB) in ${Date.now() - started} ms, client still buffering ${(sock.writableLength / 1e6).toFixed(1)} MB; service RSS ${(before / 1e6).toFixed(0)} -> ${(after / 1e6).toFixed(0)} MB`,
);
sock.destroy();
await svc.close();
