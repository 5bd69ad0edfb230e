/** A PNG that png-decode.ts refuses: damaged, truncated or inconsistent; decode.ts then asks libvips. */
export class PngDecodeError extends Error {}
