/**
 * EXIF orientation as index arithmetic: the displayed (oriented) picture is read straight out of the decoded,
 * stored pixels through an origin and two strides, so turning an image costs no copy.
 */
export interface PixelView {
  /** Size of the picture as displayed. */
  width: number;
  height: number;
  /** Index (in pixels) of displayed (0, 0) in the stored buffer, and the steps for one displayed column / row. */
  origin: number;
  xStride: number;
  yStride: number;
}

/** The displayed view of a stored width × height image with EXIF orientation 1…8. */
export function orientedView(width: number, height: number, orientation: number): PixelView {
  const W = width;
  const last = (height - 1) * W;
  switch (orientation) {
    case 2:
      return { width, height, origin: W - 1, xStride: -1, yStride: W }; // mirrored horizontally
    case 3:
      return { width, height, origin: last + W - 1, xStride: -1, yStride: -W }; // turned 180°
    case 4:
      return { width, height, origin: last, xStride: 1, yStride: -W }; // mirrored vertically
    case 5:
      return { width: height, height: width, origin: 0, xStride: W, yStride: 1 }; // transposed
    case 6:
      return { width: height, height: width, origin: last, xStride: -W, yStride: 1 }; // turn 90° clockwise
    case 7:
      return { width: height, height: width, origin: last + W - 1, xStride: -W, yStride: -1 }; // transverse
    case 8:
      return { width: height, height: width, origin: W - 1, xStride: W, yStride: -1 }; // turn 90° anticlockwise
    default:
      return { width, height, origin: 0, xStride: 1, yStride: W };
  }
}

/** The sub-rectangle (in displayed coordinates) of a view, as a view of its own. */
export function cropView(v: PixelView, x: number, y: number, width: number, height: number): PixelView {
  return { width, height, origin: v.origin + x * v.xStride + y * v.yStride, xStride: v.xStride, yStride: v.yStride };
}

/** The largest centred window of the view with the target's aspect ratio (fit "cover": scale to cover, crop). */
export function coverWindow(v: PixelView, targetWidth: number, targetHeight: number): PixelView {
  const scale = Math.min(v.width / targetWidth, v.height / targetHeight);
  const w = Math.max(1, Math.min(v.width, Math.round(targetWidth * scale)));
  const h = Math.max(1, Math.min(v.height, Math.round(targetHeight * scale)));
  return cropView(v, Math.floor((v.width - w) / 2), Math.floor((v.height - h) / 2), w, h);
}
