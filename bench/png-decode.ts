/**
 * PNG decode to 8-bit samples, CPU ms per image (the whole process, so helper threads count): the product's decoder
 * on Node's zlib (src/preprocess/png-decode.ts) against @napi-rs/image 1.15 (the decoder before issue 20, whose
 * memory V8 never saw) and sharp/libvips. Best of 5 interleaved rounds, so the candidates share the machine's noise.
 * Images: the two example PNGs and a 1800×1830 random-noise PNG (10 MB, the input).
 *
 *   node --import tsx bench/png-decode.ts
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import { decodePng } from '../src/preprocess/png-decode.ts';
import { readPngHeader, type PngHeader } from '../src/preprocess/png-header.ts';

sharp.concurrency(1);
sharp.cache(false);

const noise = await sharp(randomBytes(1800 * 1830 * 3), { raw: { width: 1800, height: 1830, channels: 3 } })
  .png()
  .toBuffer();
const images: Array<[string, Buffer, number]> = [
  ['chelsea.png 451×300', readFileSync(new URL('../examples/chelsea.png', import.meta.url)), 60],
  ['coffee.png 600×400', readFileSync(new URL('../examples/coffee.png', import.meta.url)), 60],
  ['noise 1800×1830', noise, 6],
];

const candidates: Record<string, (png: Buffer, header: PngHeader) => unknown> = {
  'png-decode.ts (product)': (png, header) => decodePng(png, header),
  '@napi-rs/image 1.15': (png) => {
    const t = new Transformer(png);
    t.metadataSync();
    return t.rawPixelsSync();
  },
  'sharp raw': (png) => sharp(png).raw({ depth: 'uchar' }).toBuffer(),
};

console.log(`CPU: ${cpus()[0]?.model} × ${cpus().length}; Node ${process.version}`);
console.log(
  `| image | ${Object.keys(candidates).join(' | ')} |\n|---|${Object.keys(candidates)
    .map(() => '---|')
    .join('')}`,
);
for (const [name, png, n] of images) {
  const header = readPngHeader(png) as PngHeader;
  const best = Object.fromEntries(Object.keys(candidates).map((k) => [k, Infinity]));
  for (let round = 0; round < 5; round++) {
    for (const [k, decode] of Object.entries(candidates)) {
      await decode(png, header);
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) await decode(png, header);
      const { user, system } = process.cpuUsage(t0);
      best[k] = Math.min(best[k]!, (user + system) / 1000 / n);
    }
  }
  console.log(
    `| ${name} | ${Object.values(best)
      .map((ms) => ms.toFixed(2))
      .join(' | ')} |`,
  );
}
