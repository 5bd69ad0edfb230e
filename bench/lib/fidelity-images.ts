/**
 * Pictures for the preprocessing-fidelity test: the real example photos in several encodings and sizes, and
 * drawings, line art and palette images generated here (SVG rendered by sharp), where the resize rule decides
 * the model's answer most often.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';

export interface NamedImage {
  name: string;
  bytes: Buffer;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
}

/** Black strokes on white: random polylines, circles and curves, like a pen sketch. */
function lineArtSvg(seed: number, width: number, height: number): string {
  const r = rng(seed);
  const at = (n: number) => Math.round(r() * n);
  const shapes: string[] = [];
  for (let i = 0; i < 14; i++) {
    const pts = Array.from({ length: 5 }, () => `${at(width)},${at(height)}`).join(' ');
    shapes.push(`<polyline points="${pts}" fill="none" stroke="#000" stroke-width="${1 + at(3)}"/>`);
    shapes.push(
      `<circle cx="${at(width)}" cy="${at(height)}" r="${10 + at(80)}" fill="none" stroke="#111" stroke-width="2"/>`,
    );
    shapes.push(
      `<path d="M${at(width)},${at(height)} Q${at(width)},${at(height)} ${at(width)},${at(height)}" fill="none" stroke="#000" stroke-width="3"/>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#fff"/>${shapes.join('')}</svg>`;
}

/** Flat-coloured shapes with black outlines, like a cartoon or clip art. */
function cartoonSvg(seed: number, width: number, height: number): string {
  const r = rng(seed);
  const at = (n: number) => Math.round(r() * n);
  const colours = ['#f4c542', '#e85d5d', '#4fa3e0', '#7bc96f', '#f29fd0', '#ffffff', '#8a5a2b'];
  const shapes: string[] = [];
  for (let i = 0; i < 10; i++) {
    const fill = colours[at(colours.length - 1)];
    shapes.push(
      `<ellipse cx="${at(width)}" cy="${at(height)}" rx="${20 + at(120)}" ry="${20 + at(90)}" fill="${fill}" stroke="#000" stroke-width="4"/>`,
    );
    shapes.push(
      `<rect x="${at(width)}" y="${at(height)}" width="${20 + at(150)}" height="${20 + at(100)}" fill="${colours[at(colours.length - 1)]}" stroke="#000" stroke-width="3"/>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#fdf6e3"/>${shapes.join('')}</svg>`;
}

export async function fidelityImages(): Promise<NamedImage[]> {
  const read = (f: string) => readFile(new URL(`../../examples/${f}`, import.meta.url));
  const [chelsea, coffee, rocket] = await Promise.all([read('chelsea.png'), read('coffee.png'), read('rocket.jpg')]);
  const images: NamedImage[] = [
    { name: 'chelsea.png (photo)', bytes: chelsea },
    { name: 'coffee.png (photo)', bytes: coffee },
    { name: 'rocket.jpg (photo)', bytes: rocket },
    { name: 'coffee 1000×667 JPEG', bytes: await sharp(coffee).resize(1000).jpeg({ quality: 90 }).toBuffer() },
    { name: 'rocket progressive JPEG', bytes: await sharp(rocket).jpeg({ quality: 85, progressive: true }).toBuffer() },
    { name: 'chelsea grey JPEG', bytes: await sharp(chelsea).toColourspace('b-w').jpeg().toBuffer() },
    {
      name: 'chelsea 64-colour palette PNG',
      bytes: await sharp(chelsea).png({ palette: true, colours: 64 }).toBuffer(),
    },
    { name: 'coffee 16-bit PNG', bytes: await sharp(coffee).toColourspace('rgb16').png().toBuffer() },
  ];
  for (const seed of [1, 2, 3]) {
    const art = await sharp(Buffer.from(lineArtSvg(seed, 800, 600)))
      .png()
      .toBuffer();
    images.push({ name: `line art ${seed} (PNG)`, bytes: art });
    images.push({
      name: `line art ${seed} (2-colour palette PNG)`,
      bytes: await sharp(art).png({ palette: true, colours: 2 }).toBuffer(),
    });
    const cartoon = await sharp(Buffer.from(cartoonSvg(seed, 640, 480)))
      .png()
      .toBuffer();
    images.push({
      name: `cartoon ${seed} (8-colour palette PNG)`,
      bytes: await sharp(cartoon).png({ palette: true, colours: 8 }).toBuffer(),
    });
    images.push({ name: `cartoon ${seed} (JPEG)`, bytes: await sharp(cartoon).jpeg({ quality: 88 }).toBuffer() });
  }
  images.push({
    name: 'line art on transparent (RGBA PNG)',
    bytes: await sharp(Buffer.from(lineArtSvg(9, 500, 500).replace('fill="#fff"', 'fill="none"')))
      .png()
      .toBuffer(),
  });
  return images;
}
