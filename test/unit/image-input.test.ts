import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sniffFormat } from '../../src/frontend/image-input.ts';
import { topK } from '../../src/model/rank.ts';

describe('sniffFormat', () => {
  const b = (...x: number[]) => new Uint8Array(x);
  const s = (t: string) => new TextEncoder().encode(t);
  it('recognises raster formats by magic number', () => {
    assert.equal(sniffFormat(b(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
    assert.equal(sniffFormat(b(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'png');
    assert.equal(sniffFormat(s('GIF89a....')), 'gif');
    assert.equal(sniffFormat(s('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
    assert.equal(sniffFormat(b(0x49, 0x49, 0x2a, 0x00)), 'tiff');
    assert.equal(sniffFormat(s('\0\0\0\x1cftypavif')), 'heif');
  });
  it('refuses SVG, HTML, JSON, empty and short input', () => {
    for (const t of [
      '<svg xmlns="http://www.w3.org/2000/svg"/>',
      '<?xml version="1.0"?><svg/>',
      '<html>',
      '{"a":1}',
      '',
      'GIF',
    ]) {
      assert.equal(sniffFormat(s(t)), undefined, t);
    }
  });
});

describe('topK', () => {
  it('ranks one row of scores, capping k to the number of classes', () => {
    const scores = new Float32Array([0.1, 0.7, 0.2, /* row 1 */ 0.5, 0.2, 0.3]);
    assert.deepEqual(
      topK(scores, 0, ['a', 'b', 'c'], 2).map((p) => p.label),
      ['b', 'c'],
    );
    assert.deepEqual(
      topK(scores, 1, ['a', 'b', 'c'], 10).map((p) => p.label),
      ['a', 'c', 'b'],
    );
    assert.equal(topK(scores, 1, ['a', 'b', 'c'], 0).length, 1);
  });
});
