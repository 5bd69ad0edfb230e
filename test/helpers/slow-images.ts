/**
 * Small files that are slow to decode (issue 12, defect 1), crafted byte by byte: a progressive JPEG with
 * thousands of tiny AC scans (each scan makes the decoder walk every 8×8 block) and a 1×N PNG (N rows of one
 * pixel). Both stay within MAX_INPUT_PIXELS, so only a bound on decode work or a decode deadline stops them.
 */
import { crc32, deflateSync } from 'node:zlib';

/** Appends bits MSB first and yields JPEG entropy-coded bytes (0xFF stuffed with 0x00, tail padded with 1s). */
class BitWriter {
  private readonly bytes: number[] = [];
  private acc = 0;
  private count = 0;

  write(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }

  /** Many zero bits at once (the DC scan is half a million of them). */
  zeros(bits: number): void {
    while (this.count !== 0 && bits > 0) {
      this.write(0, 1);
      bits--;
    }
    for (; bits >= 8; bits -= 8) this.bytes.push(0);
    this.write(0, bits);
  }

  finish(): Buffer {
    if (this.count > 0) this.write((1 << (8 - this.count)) - 1, 8 - this.count);
    return Buffer.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0x00);
    this.acc = 0;
    this.count = 0;
  }
}

function segment(marker: number, body: number[] | Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, Buffer.from(body)]);
}

/** SOS of a one-component scan over coefficients ss..se with successive-approximation bits ah/al. */
const scanHeader = (ss: number, se: number) => segment(0xda, [1, 1, 0x00, ss, se, 0x00]);

/**
 * A grey progressive JPEG of width × height whose picture is flat grey: one DC scan, then `scans` AC scans of
 * coefficient 1 that are all end-of-band runs. A decoder spends O(blocks) on every scan, so the work is
 * scans × blocks while the file stays a few tens of bytes per scan. Repeating a first AC scan with Al = 0 is
 * accepted by libjpeg without a warning.
 */
export function manyScanJpeg(opts: { width?: number; height?: number; scans?: number } = {}): Buffer {
  const { width = 6000, height = 6000, scans = 6000 } = opts;
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const dqt = segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]);
  const sof2 = segment(0xc2, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]);
  // DC table 0: one symbol (category 0, "no difference") with the 1-bit code 0.
  const dcTable = segment(0xc4, [0x00, 1, ...new Array<number>(15).fill(0), 0x00]);
  // AC table 0: EOB run symbols. Code 0 → EOB14 (run 2^14 + 14 extra bits), code 10 → EOB r for the remainder.
  const tail = blocks % 32767;
  const tailBits = tail > 0 ? Math.floor(Math.log2(tail)) : 0;
  const acTable = segment(0xc4, [0x10, 1, 1, ...new Array<number>(14).fill(0), 0xe0, tailBits << 4]);

  const dc = new BitWriter();
  dc.zeros(blocks);
  const dcData = dc.finish();
  const ac = new BitWriter();
  for (let left = blocks; left > 0; ) {
    if (left >= 32767) {
      ac.write(0, 1);
      ac.write(32767 - (1 << 14), 14);
      left -= 32767;
    } else {
      ac.write(0b10, 2);
      ac.write(left - (1 << tailBits), tailBits);
      left = 0;
    }
  }
  const acData = ac.finish();
  const acScan = Buffer.concat([scanHeader(1, 1), acData]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    dqt,
    sof2,
    dcTable,
    acTable,
    scanHeader(0, 0),
    dcData,
    ...new Array<Buffer>(scans).fill(acScan),
    Buffer.from([0xff, 0xd9]),
  ]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed) >>> 0);
  return Buffer.concat([len, typed, crc]);
}

/** A black 8-bit grey PNG one pixel wide and `height` rows tall: tiny on disk, one decoder call per row. */
export function tallPng(height = 40_000_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grey, deflate, no filter, no interlace
  // Each row is a filter byte (0) and one pixel (0); deflate shrinks the zeros about 1000×.
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(height * 2), { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
