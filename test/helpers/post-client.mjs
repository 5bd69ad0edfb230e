// A client in its own process (the server's event loop must not pace it): posts a multipart image of <bytes> bytes
// <times> times with Node's fetch or undici, and prints one JSON array of {status, body} or {error}. Multipart,
// as browsers and SDKs send it: the body goes out in several writes, and a write after a reset fails with EPIPE.
// Usage: node post-client.mjs <fetch|undici> <url> <bytes> <times>
import { FormData as UndiciFormData, request } from 'undici';

const [kind, url, bytes, times] = process.argv.slice(2);
const image = new Blob([Buffer.alloc(Number(bytes), 1)], { type: 'image/png' });
const results = [];
for (let i = 0; i < Number(times); i++) {
  // undici's request takes its own FormData class only.
  const body = kind === 'fetch' ? new FormData() : new UndiciFormData();
  body.append('image', image, 'noise.png');
  try {
    if (kind === 'fetch') {
      const res = await fetch(url, { method: 'POST', body });
      results.push({ status: res.status, body: await res.text() });
    } else {
      const res = await request(url, { method: 'POST', body });
      results.push({ status: res.statusCode, body: await res.body.text() });
    }
  } catch (err) {
    results.push({ error: `${err.message} ${err.cause?.code ?? err.code ?? ''}`.trim() });
  }
}
process.stdout.write(JSON.stringify(results));
