/**
 * Seeds and mutations for the preprocessing fuzz run: a valid image of every format and variant the service
 * takes, each truncated at several points and bit-flipped at pseudo-random positions (a fixed seed, so a failure
 * reproduces). The header region is hit more often: that is where decoders trust lengths and sizes.
 */
import { baseImage } from './corpus.ts';

export interface FuzzCase {
  name: string;
  bytes: Buffer;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
}

export async function fuzzSeeds(): Promise<FuzzCase[]> {
  const base = await baseImage();
  const q = base.clone();
  return [
    { name: 'png', bytes: await q.clone().png().toBuffer() },
    { name: 'png-interlaced-alpha', bytes: await q.clone().ensureAlpha(0.5).png({ progressive: true }).toBuffer() },
    { name: 'png-palette', bytes: await q.clone().png({ palette: true, colours: 16 }).toBuffer() },
    { name: 'png-16bit', bytes: await q.clone().toColourspace('rgb16').png().toBuffer() },
    {
      name: 'png-grey-exif',
      bytes: await q.clone().toColourspace('b-w').png().withMetadata({ orientation: 6 }).toBuffer(),
    },
    { name: 'jpeg', bytes: await q.clone().jpeg().toBuffer() },
    {
      name: 'jpeg-progressive-exif',
      bytes: await q.clone().jpeg({ progressive: true }).withMetadata({ orientation: 8 }).toBuffer(),
    },
    { name: 'jpeg-grey', bytes: await q.clone().toColourspace('b-w').jpeg().toBuffer() },
    { name: 'jpeg-cmyk', bytes: await q.clone().toColourspace('cmyk').jpeg().toBuffer() },
    { name: 'webp', bytes: await q.clone().webp().toBuffer() },
    { name: 'webp-lossless', bytes: await q.clone().webp({ lossless: true }).toBuffer() },
    { name: 'gif', bytes: await q.clone().gif().toBuffer() },
    { name: 'tiff', bytes: await q.clone().tiff().toBuffer() },
    { name: 'avif', bytes: await q.clone().avif({ effort: 0 }).toBuffer() },
  ];
}

/** `perSeed` mutations of each seed: truncations, then 1, 2, 4 … bit flips, half of them in the first 256 bytes. */
export function mutations(seeds: FuzzCase[], perSeed: number, seed = 20261125): FuzzCase[] {
  const r = rng(seed);
  const out: FuzzCase[] = [];
  for (const s of seeds) {
    const truncations = [0.05, 0.3, 0.6, 0.95, 0.999];
    for (const f of truncations.slice(0, Math.min(truncations.length, Math.ceil(perSeed / 4)))) {
      out.push({
        name: `${s.name} truncated at ${Math.floor(f * 100)}%`,
        bytes: s.bytes.subarray(0, Math.max(1, Math.floor(s.bytes.length * f))),
      });
    }
    for (let i = out.filter((c) => c.name.startsWith(`${s.name} `)).length; i < perSeed; i++) {
      const bytes = Buffer.from(s.bytes);
      const flips = 1 << (i % 5);
      const inHeader = i % 2 === 0;
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(r() * (inHeader ? Math.min(256, bytes.length) : bytes.length));
        bytes[at] = bytes[at]! ^ (1 << Math.floor(r() * 8));
      }
      out.push({ name: `${s.name} ${flips} bit flip(s)${inHeader ? ' in the header' : ''} #${i}`, bytes });
    }
  }
  return out;
}
