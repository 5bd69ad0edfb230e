/**
 * The preprocessing limits from the service configuration, apart from the decoders: the host's main thread
 * passes them to its decode workers without loading sharp itself (a faster restart).
 */
export interface PreprocessSettings {
  maxInputPixels: number;
  /** JPEGs with more start-of-scan markers are refused (IMAGE_TOO_COMPLEX) before decoding. */
  maxJpegScans: number;
  /** Decode large JPEGs at 1/2, 1/4, 1/8 in the DCT domain while the result still covers the model input. */
  jpegDctScaling: boolean;
  /** libvips stops a decode of its own after this many seconds (0: no limit); the pool abandons it sooner. */
  decodeTimeoutS?: number;
}

/** The preprocessing settings from the service configuration. */
export function preprocessSettings(config: {
  MAX_INPUT_PIXELS: number;
  MAX_JPEG_SCANS: number;
  JPEG_DCT_SCALING: 'on' | 'off';
}): PreprocessSettings {
  return {
    maxInputPixels: config.MAX_INPUT_PIXELS,
    maxJpegScans: config.MAX_JPEG_SCANS,
    jpegDctScaling: config.JPEG_DCT_SCALING === 'on',
  };
}
