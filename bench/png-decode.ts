/**
 * PNG decode to 8-bit RGB, CPU ms per image (the whole process, so helper threads count): the product's decoder
 * on Node's zlib (src/preprocess/png-decode.ts, as decode.ts calls it) against its first version (commit 90ac74a
 * with its toRgb8, read from git into a temporary folder: left out in a clone without that history),
 * @napi-rs/image 1.15 (the decoder before issue 20, whose memory V8 never saw) and sharp/libvips. Best of 5
 * interleaved rounds, so the candidates share the machine's noise. Images: the two example PNGs, coffee.png with an
 * alpha channel (RGBA, filtered per row as libpng does by default; flattened over white by the product) and a
 * 1800×1830 random-noise PNG (the input).
 *
 *   node --import tsx bench/png-decode.ts
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import { decodePng, type DecodedPng } from '../src/preprocess/png-decode.ts';
import { readPngHeader, type PngHeader } from '../src/preprocess/png-header.ts';

const FIRST_VERSION = '90ac74a';

sharp.concurrency(1);
sharp.cache(false);

const coffee = readFileSync(new URL('../examples/coffee.png', import.meta.url));
const noise = await sharp(randomBytes(1800 * 1830 * 3), { raw: { width: 1800, height: 1830, channels: 3 } })
  .png()
  .toBuffer();
const images: Array<[string, Buffer, number]> = [
  ['chelsea.png 451×300 RGB', readFileSync(new URL('../examples/chelsea.png', import.meta.url)), 60],
  ['coffee.png 600×400 RGB', coffee, 60],
  ['coffee.png 600×400 RGBA', await sharp(coffee).ensureAlpha(0.8).png({ adaptiveFiltering: true }).toBuffer(), 60],
  ['noise 1800×1830 RGB', noise, 6],
];

type Decode = (png: Buffer, header: PngHeader) => unknown;
const candidates: Record<string, Decode> = {
  'png-decode.ts (product)': (png, header) => decodePng(png, header, 'rgb'),
  ...(await firstVersion()),
  '@napi-rs/image 1.15': (png) => {
    const t = new Transformer(png);
    t.metadataSync();
    return t.rawPixelsSync();
  },
  'sharp raw': (png) => sharp(png).raw({ depth: 'uchar' }).toBuffer(),
};

/** The decoder as first written (00cde0f, last touched in 90ac74a) and the conversion to RGB of that commit. */
async function firstVersion(): Promise<Record<string, Decode>> {
  const dir = mkdtempSync(join(tmpdir(), 'png-decode-first-'));
  try {
    for (const file of ['png-decode.ts', 'to-rgb.ts']) {
      const source = execFileSync('git', ['show', `${FIRST_VERSION}:src/preprocess/${file}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      writeFileSync(join(dir, file), source);
    }
    // Their other imports are types only, which tsx erases.
    const load = async (file: string) => import(pathToFileURL(join(dir, file)).href);
    const first = (await load('png-decode.ts')) as { decodePng: typeof decodePng };
    const { toRgb8 } = (await load('to-rgb.ts')) as {
      toRgb8: (data: Uint8Array, pixels: number, format: DecodedPng['format']) => Uint8Array;
    };
    return {
      [`first version (${FIRST_VERSION})`]: (png, header) => {
        const { data, format } = first.decodePng(png, header);
        return toRgb8(data, header.width * header.height, format);
      },
    };
  } catch {
    console.log(`(no ${FIRST_VERSION} in this clone's history: the first version's column is left out)`);
    return {};
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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
