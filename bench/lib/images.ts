/** The request bodies the benchmarks send: the example photos (and small JPEGs for the plumbing ceiling). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLE_FILES = ['chelsea.png', 'coffee.png', 'rocket.jpg'] as const;

export interface Image {
  name: string;
  bytes: Buffer;
}

export function exampleImages(): Image[] {
  return EXAMPLE_FILES.map((name) => ({ name, bytes: readFileSync(`${ROOT}examples/${name}`) }));
}

/** Small JPEGs (64×64 by default) cut from the example photos, for the plumbing-ceiling runs. */
export async function smallJpegs(size = 64): Promise<Image[]> {
  return Promise.all(
    exampleImages().map(async (img) => ({
      name: `${img.name}-${size}.jpg`,
      bytes: await sharp(img.bytes)
        .resize(size, size, { fit: 'fill' })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality: 85 })
        .toBuffer(),
    })),
  );
}

/** A large phone-sized JPEG (rocket upscaled), where JPEG shrink-on-load matters. */
export async function largeJpeg(width = 1920): Promise<Image> {
  const rocket = readFileSync(`${ROOT}examples/rocket.jpg`);
  return { name: `rocket-${width}.jpg`, bytes: await sharp(rocket).resize({ width }).jpeg({ quality: 90 }).toBuffer() };
}

export interface Body {
  name: string;
  contentType: string;
  body: Buffer;
  /** Other request headers (the Open Inference Protocol's Inference-Header-Content-Length). */
  headers?: Record<string, string>;
}

/** An Open Inference Protocol request with one encoded image as BYTES through the binary data extension. */
export function v2BytesBody(img: Image): Body {
  const head = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 4 + img.bytes.length } },
      ],
    }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(img.bytes.length);
  return {
    name: img.name,
    contentType: 'application/octet-stream',
    body: Buffer.concat([head, len, img.bytes]),
    headers: { 'inference-header-content-length': String(head.length) },
  };
}

/** multipart/form-data with one field `image`, as the original API and its stress test send. */
export function multipartBody(img: Image): Body {
  const boundary = `----bench${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${img.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    name: img.name,
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([head, img.bytes, tail]),
  };
}

/**
 * The images bench:micro measures preprocessing on: the example photos, rocket.jpg without its Adobe RGB profile
 * (the common case of an sRGB JPEG), a ~1000-px JPEG, a 1920-px JPEG and a 4000×3000 progressive JPEG.
 */
export async function preprocessImages(): Promise<Image[]> {
  const [chelsea, coffee, rocket] = exampleImages();
  return [
    chelsea!,
    coffee!,
    rocket!,
    { name: 'rocket-srgb.jpg (no ICC profile)', bytes: await sharp(rocket!.bytes).jpeg({ quality: 90 }).toBuffer() },
    {
      name: 'coffee-1000x872.jpg',
      bytes: await sharp(coffee!.bytes).resize(1000, 872, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer(),
    },
    await largeJpeg(1920),
    {
      name: 'rocket-4000x3000-progressive.jpg',
      bytes: await sharp(rocket!.bytes)
        .resize(4000, 3000, { fit: 'fill' })
        .jpeg({ quality: 90, progressive: true })
        .toBuffer(),
    },
  ];
}
