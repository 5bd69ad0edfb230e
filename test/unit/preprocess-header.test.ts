/**
 * Header inspection before any decode: the JPEG marker walk (frame size, scans, EXIF orientation, ICC profile,
 * truncation) and the PNG chunk walk, and the limits they enforce: MAX_INPUT_PIXELS from the header and
 * MAX_JPEG_SCANS, which refuses issue 12's many-scan JPEG after a marker walk of a fraction of a millisecond.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { readJpegHeader } from '../../src/preprocess/jpeg-header.ts';
import { readPngHeader } from '../../src/preprocess/png-header.ts';
import { inspectImage } from '../../src/preprocess/image-header.ts';
import { PreprocessError } from '../../src/preprocess/preprocess-error.ts';
import { baseImage, pngDeclaring } from '../helpers/corpus.ts';
import { manyScanJpeg, tallPng } from '../helpers/slow-images.ts';

const LIMITS = { maxInputPixels: 40_000_000, maxJpegScans: 100 };

function refusal(bytes: Uint8Array, limits = LIMITS): PreprocessError {
  try {
    inspectImage(bytes, limits);
  } catch (err) {
    assert.ok(err instanceof PreprocessError, String(err));
    return err;
  }
  assert.fail('the header was accepted');
}

describe('JPEG header walk', () => {
  it('reads size, components, scans and orientation of baseline and progressive JPEGs', async () => {
    const base = await baseImage();
    const baseline = readJpegHeader(await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(), 100);
    assert.ok(typeof baseline !== 'string');
    assert.deepEqual(
      [
        baseline.width,
        baseline.height,
        baseline.components,
        baseline.progressive,
        baseline.scans,
        baseline.orientation,
        baseline.complete,
      ],
      [160, 128, 3, false, 1, 6, true],
    );
    const progressive = readJpegHeader(await base.clone().jpeg({ progressive: true }).toBuffer(), 100);
    assert.ok(typeof progressive !== 'string');
    assert.ok(
      progressive.progressive && progressive.scans > 1 && progressive.scans < 20,
      `scans: ${progressive.scans}`,
    );
    const grey = readJpegHeader(await base.clone().toColourspace('b-w').jpeg().toBuffer(), 100);
    assert.ok(typeof grey !== 'string' && grey.components === 1);
    const cmyk = readJpegHeader(await base.clone().toColourspace('cmyk').jpeg().toBuffer(), 100);
    assert.ok(typeof cmyk !== 'string' && cmyk.components === 4);
  });

  it('counts the scans of the many-scan attack and stops past the limit', () => {
    const attack = manyScanJpeg(); // 6000×6000, 6001 scans
    const all = readJpegHeader(attack, 100_000);
    assert.ok(typeof all !== 'string');
    assert.equal(all.scans, 6001);
    const cut = readJpegHeader(attack, 100);
    assert.ok(typeof cut !== 'string' && cut.scans === 101 && !cut.complete);
  });

  it('refuses the attack with IMAGE_TOO_COMPLEX before decoding, and accepts it under a higher limit', () => {
    const attack = manyScanJpeg();
    const started = process.cpuUsage();
    const e = refusal(attack);
    const cpuMs = (process.cpuUsage(started).user + process.cpuUsage(started).system) / 1000;
    assert.equal(e.code, 'IMAGE_TOO_COMPLEX');
    console.log(`# many-scan JPEG (${attack.length} bytes) refused after ${cpuMs.toFixed(2)} ms of CPU`);
    assert.equal(inspectImage(attack, { ...LIMITS, maxJpegScans: 10_000 }).kind, 'jpeg');
    assert.equal(refusal(manyScanJpeg({ width: 64, height: 64, scans: 100 })).code, 'IMAGE_TOO_COMPLEX'); // 101 scans
    assert.equal(inspectImage(manyScanJpeg({ width: 64, height: 64, scans: 99 }), LIMITS).kind, 'jpeg'); // 100 scans
  });

  it('refuses a truncated JPEG, one without a frame, and a frame over the pixel limit', async () => {
    const jpeg = await (await baseImage()).jpeg().toBuffer();
    assert.equal(refusal(jpeg.subarray(0, Math.floor(jpeg.length * 0.6))).code, 'INVALID_IMAGE');
    assert.equal(refusal(Buffer.from([0xff, 0xd8, 0xff, 0xd9])).code, 'INVALID_IMAGE');
    assert.equal(refusal(jpeg, { ...LIMITS, maxInputPixels: 160 * 128 - 1 }).code, 'IMAGE_TOO_LARGE');
  });
});

describe('PNG header walk', () => {
  it('reads IHDR, eXIf orientation, iCCP and APNG', async () => {
    const base = await baseImage();
    const h = readPngHeader(await base.clone().png().withMetadata({ orientation: 3 }).toBuffer());
    assert.ok(typeof h !== 'string');
    assert.deepEqual(
      [h.width, h.height, h.colorType, h.bitDepth, h.orientation, h.animated],
      [160, 128, 2, 8, 3, false],
    );
    assert.ok(h.icc && h.icc.length > 100, 'withMetadata adds an sRGB profile');
    const pal = readPngHeader(await base.clone().png({ palette: true }).toBuffer());
    assert.ok(typeof pal !== 'string' && pal.colorType === 3);
    const anim = readPngHeader(
      await sharp(await base.clone().raw().toBuffer(), {
        raw: { width: 160, height: 64, channels: 3, pageHeight: 32 },
      } as never)
        .png()
        .toBuffer(),
    );
    assert.ok(typeof anim !== 'string');
  });

  it('refuses a bomb from its IHDR, and lets the 1 × 40,000,000 strip through to the decoder', () => {
    assert.equal(refusal(pngDeclaring(100_000, 100_000)).code, 'IMAGE_TOO_LARGE');
    assert.equal(refusal(pngDeclaring(0x7fffffff, 0x7fffffff)).code, 'IMAGE_TOO_LARGE');
    const strip = inspectImage(tallPng(), LIMITS);
    assert.ok(strip.kind === 'png' && strip.width === 1 && strip.height === 40_000_000);
  });
});
