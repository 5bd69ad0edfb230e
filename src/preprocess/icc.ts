/**
 * Embedded ICC colour profiles. The service converts images to sRGB (as the sharp pipeline always did, and as a
 * browser shows them); an image tagged with another profile (Adobe RGB, Display P3, …) is decoded by sharp,
 * which applies it. A profile that describes itself as sRGB needs no conversion.
 */
const SRGB_ASCII = Buffer.from('sRGB', 'latin1');
const SRGB_UTF16 = Buffer.from('\0s\0R\0G\0B', 'latin1'); // v4 profiles store descriptions as UTF-16BE

export function isSrgbProfile(icc: Uint8Array): boolean {
  const b = Buffer.from(icc.buffer, icc.byteOffset, icc.byteLength);
  return b.includes(SRGB_ASCII) || b.includes(SRGB_UTF16);
}
