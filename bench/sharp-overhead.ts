/**
 * sharp's fixed cost per image, sequential, in-process: the product pipeline, decode only and metadata only
 * on 64×64 JPEGs (the plumbing-ceiling images), under sharp's cache/concurrency settings.
 *   node --import tsx bench/sharp-overhead.ts
 */
import sharp from 'sharp';
import { smallJpegs } from './lib/images.ts';
const imgs = await smallJpegs(64);
const fn = (b: Buffer) =>
  sharp(b, { failOn: 'error', pages: 1 })
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize(32, 32, { fit: 'fill' })
    .raw()
    .toBuffer();
const raw = (b: Buffer) => sharp(b).raw().toBuffer();
const meta = (b: Buffer) => sharp(b).metadata();
async function t(label: string, f: (b: Buffer) => Promise<unknown>) {
  for (let i = 0; i < 50; i++) await f(imgs[i % 3]!.bytes);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const N = 400;
  for (let i = 0; i < N; i++) await f(imgs[i % 3]!.bytes);
  const c = process.cpuUsage(c0);
  console.log(
    `${label.padEnd(40)} wall ${((performance.now() - t0) / N).toFixed(3)} CPU ${((c.user + c.system) / 1000 / N).toFixed(3)} ms`,
  );
}
console.log('defaults: concurrency', sharp.concurrency(), 'cache', JSON.stringify(sharp.cache()));
await t('product, defaults', fn);
await t('decode only, defaults', raw);
await t('metadata only, defaults', meta);
sharp.cache(false);
await t('product, cache(false)', fn);
sharp.concurrency(1);
await t('product, cache(false), concurrency(1)', fn);
await t('decode only, cache(false), concurrency(1)', raw);
sharp.cache(true);
await t('product, cache on, concurrency(1)', fn);
console.log(sharp.versions);
