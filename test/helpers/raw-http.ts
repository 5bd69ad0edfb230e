/**
 * HTTP/1.1 on a raw socket, for attacks no HTTP client will send: duplicate Content-Length, pipelining, bare LF,
 * header floods. `exchange` writes the bytes, then reads until the server closes or `expect` responses are in.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Header lines in order, as sent (to see duplicates). */
  headerLines: string[];
  body: string;
}

export interface Exchange {
  responses: RawResponse[];
  /** Bytes that did not parse as a response (e.g. a body on a HEAD answer). */
  rest: string;
  /** The server closed the connection. */
  closed: boolean;
  /** From connect to close (or to the last response when the server kept the connection open). */
  ms: number;
}

/**
 * Splits a byte stream into responses. `headRequests[i]` true means the i-th response answers a HEAD: it has
 * no body whatever its Content-Length says, so any bytes after its head belong to the next response (or are junk).
 */
export function parseResponses(raw: string, headRequests: boolean[] = []): { responses: RawResponse[]; rest: string } {
  const responses: RawResponse[] = [];
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0 || !rest.startsWith('HTTP/1.')) break;
    const lines = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim().toLowerCase();
      headers[name] = name in headers ? `${headers[name]}, ${line.slice(i + 1).trim()}` : line.slice(i + 1).trim();
    }
    const isHead = headRequests[responses.length] ?? false;
    const length = isHead ? 0 : Number(headers['content-length'] ?? 0);
    if (rest.length < end + 4 + length) break;
    responses.push({
      status: Number(lines[0]!.split(' ')[1]),
      headers,
      headerLines: lines.slice(1),
      body: rest.slice(end + 4, end + 4 + length),
    });
    rest = rest.slice(end + 4 + length);
  }
  return { responses, rest };
}

export function exchange(
  port: number,
  parts: Array<string | Buffer | number>,
  opts: { expect?: number; headRequests?: boolean[]; timeoutMs?: number; onSocket?: (s: Socket) => void } = {},
): Promise<Exchange> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = connect(port, '127.0.0.1');
    opts.onSocket?.(sock);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const parsed = parseResponses(Buffer.concat(chunks).toString('latin1'), opts.headRequests);
      resolve({ ...parsed, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d) => {
      chunks.push(d);
      if (opts.expect !== undefined) {
        const { responses, rest } = parseResponses(Buffer.concat(chunks).toString('latin1'), opts.headRequests);
        // Wait a moment past the expected count: extra bytes (a body on a HEAD answer) must show too.
        if (responses.length >= opts.expect && rest === '') setTimeout(() => finish(false), 200);
      }
    });
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.once('connect', async () => {
      for (const p of parts) {
        if (done || sock.destroyed) return;
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else sock.write(p);
      }
    });
  });
}
