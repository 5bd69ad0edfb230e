/**
 * Load for fault tests: closed-loop (N clients, each sends its next request when answered) and open-loop (a fixed
 * offered rate whatever the answers). Every request is recorded once with its status, error code and latency; a
 * transport failure (connection refused/reset) is recorded as status 0.
 */
import { Agent, request } from 'undici';
import sharp from 'sharp';

export interface Sample {
  status: number;
  code?: string;
  ms: number;
  startedAt: number;
  /** Number of result lists in a 200 body (always 1 for the single-image API). */
  ok?: boolean;
}

/** A small PNG (cheap to decode), raw body for `Content-Type: image/png`. */
export async function smallPng(size = 64, seed = 0): Promise<Buffer> {
  const raw = Buffer.alloc(size * size * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + seed * 17 + ((i / 3) | 0)) & 0xff;
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

const agent = new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 10_000 });

export async function postRaw(url: string, body: Buffer, type = 'image/png', path = '/predict'): Promise<Sample> {
  const startedAt = Date.now();
  try {
    const res = await request(`${url}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': type },
      dispatcher: agent,
    });
    const text = await res.body.text();
    let code: string | undefined;
    let ok: boolean | undefined;
    try {
      const json = JSON.parse(text) as { success?: boolean; error?: { code?: string } };
      code = json.error?.code;
      ok = json.success === true;
    } catch {
      code = 'NOT_JSON';
    }
    return { status: res.statusCode, code, ok, ms: Date.now() - startedAt, startedAt };
  } catch (err) {
    return {
      status: 0,
      code: (err as { code?: string }).code ?? (err as Error).message,
      ms: Date.now() - startedAt,
      startedAt,
    };
  }
}

/** `clients` loops, each posting until stop() is called; resolves with every sample once all are answered. */
export function closedLoop(
  url: string,
  body: Buffer,
  clients: number,
): { samples: Sample[]; stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let stopped = false;
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      const s = await postRaw(url, body);
      samples.push(s);
      // A refused request comes back at once: do not spin.
      if (s.status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    samples,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return samples;
    },
  };
}

/** Offers `ratePerS` requests per second for durationMs (at most `total`), whatever the answers. */
export async function openLoop(url: string, body: Buffer, ratePerS: number, durationMs: number): Promise<Sample[]> {
  const started = Date.now();
  const inFlight: Array<Promise<Sample>> = [];
  const intervalMs = 10;
  let sent = 0;
  while (Date.now() - started < durationMs) {
    const due = Math.floor(((Date.now() - started) / 1000) * ratePerS);
    for (; sent < due; sent++) inFlight.push(postRaw(url, body));
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return Promise.all(inFlight);
}

export function summarize(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const key = s.code ? `${s.status} ${s.code}` : String(s.status);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

export async function closeLoadAgent(): Promise<void> {
  await agent.close();
}

/** How many requests started after `t` have been answered (any status): "the load went on past t". */
export function answeredSince(samples: readonly Sample[], t: number): number {
  return samples.filter((s) => s.startedAt > t).length;
}
