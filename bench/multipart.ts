/**
 * Multipart parsing cost on hostile and normal 10 MiB bodies: the front end's parser (busboy fed in slices,
 * src/frontend/multipart.ts) against uWS's getParts on the whole body (the parser before issue 12). Prints, per
 * body, the CPU time spent and the longest CPU stretch without an event-loop turn; then, per example photo, the
 * CPU µs per upload of each parser (best of 8 interleaved rounds), getParts with and without the part-count scan
 * it needs to refuse a body of many parts before parsing it (issue 22).
 *
 *   node --import tsx bench/multipart.ts
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extractImages } from '../src/frontend/image-input.ts';
import { loadUws } from '../src/http/uws-binary.ts';

const { uws } = loadUws();

const MiB = 1024 * 1024;
const BOUNDARY = '----formdata-undici-0123456789';
const limits = { maxImages: 16, maxParts: 64 };

function emptyParts(boundary: string, headers = ''): Buffer {
  const part = Buffer.from(`\r\n--${boundary}\r\n${headers}\r\n`);
  const n = Math.floor((10 * MiB - 64) / part.length);
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\n${headers}\r\n`),
    Buffer.alloc(part.length * n, part),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

function oneImage(): Buffer {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
  const image = randomBytes(10 * MiB - 300);
  image.set([0xff, 0xd8, 0xff]);
  return Buffer.concat([Buffer.from(head), image, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
}

const bodies: Array<[string, Buffer, string]> = [
  ['1.16M empty parts (1-byte boundary)', emptyParts('X'), 'X'],
  ['200k empty named fields', emptyParts('X', 'Content-Disposition: form-data; name="a"\r\n'), 'X'],
  ['one 10 MiB image', oneImage(), BOUNDARY],
];

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

async function measure(work: () => Promise<unknown>): Promise<{ cpu: number; longest: number }> {
  let longest = 0;
  let last = process.cpuUsage();
  let running = true;
  const probe = () => {
    longest = Math.max(longest, cpuMs(last));
    last = process.cpuUsage();
    if (running) setImmediate(probe);
  };
  setImmediate(probe);
  const start = process.cpuUsage();
  await work();
  const cpu = cpuMs(start);
  running = false;
  await new Promise((r) => setImmediate(r));
  longest = Math.max(longest, cpuMs(last));
  return { cpu, longest };
}

console.log('| body | parser | CPU ms | longest block, CPU ms | outcome |');
console.log('| --- | --- | ---: | ---: | --- |');
// Ours first: the old parser's million objects would leave the garbage collector busy for the later rounds.
for (const [name, body, boundary] of bodies) {
  const header = `multipart/form-data; boundary=${boundary}`;
  for (let round = 0; round < 3; round++) {
    let outcome = '';
    const ours = await measure(async () => {
      const r = await extractImages(body, header, limits);
      outcome = r.ok ? `${r.images.length} image(s)` : `${r.code}`;
    });
    if (round === 2)
      console.log(
        `| ${name} | busboy, 16 KiB slices | ${ours.cpu.toFixed(1)} | ${ours.longest.toFixed(1)} | ${outcome} |`,
      );
  }
}
for (const [name, body, boundary] of bodies) {
  let parts = 0;
  const theirs = await measure(async () => {
    parts = uws.getParts(body, `multipart/form-data; boundary=${boundary}`)?.length ?? 0;
  });
  console.log(
    `| ${name} | uWS getParts, whole body | ${theirs.cpu.toFixed(1)} | ${theirs.longest.toFixed(1)} | ${parts} parts |`,
  );
}

// ---------- per upload, the example photos ----------
console.log('\n| photo body | busboy, µs CPU | getParts, µs | getParts + part-count scan, µs |');
console.log('| --- | ---: | ---: | ---: |');
for (const file of ['chelsea.png', 'coffee.png', 'rocket.jpg']) {
  const image = readFileSync(new URL(`../examples/${file}`, import.meta.url));
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="${file}"\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head), image, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
  const header = `multipart/form-data; boundary=${BOUNDARY}`;
  const delimiter = Buffer.from(`\r\n--${BOUNDARY}`);
  const countParts = () => {
    let n = 0;
    for (let at = body.indexOf(delimiter); at >= 0 && n <= limits.maxParts; at = body.indexOf(delimiter, at + 1)) n++;
    return n;
  };
  const ways: Record<string, () => unknown> = {
    busboy: () => extractImages(body, header, limits),
    getParts: () => uws.getParts(body, header),
    guarded: () => countParts() <= limits.maxParts && uws.getParts(body, header),
  };
  const best: Record<string, number> = {};
  for (let round = 0; round < 8; round++) {
    for (const [way, run] of Object.entries(ways)) {
      const start = process.cpuUsage();
      for (let i = 0; i < 200; i++) await run();
      best[way] = Math.min(best[way] ?? Infinity, (cpuMs(start) * 1000) / 200);
    }
  }
  const us = (way: string) => best[way]!.toFixed(0);
  console.log(
    `| ${file} (${(body.byteLength / 1024).toFixed(0)} KiB) | ${us('busboy')} | ${us('getParts')} | ${us('guarded')} |`,
  );
}
