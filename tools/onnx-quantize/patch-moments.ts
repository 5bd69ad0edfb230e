/**
 * Second moments of the input patches a grouped convolution with one input channel per group (depthwise) reads:
 * for each channel, E[x_i x_j] over every output position, for i, j the kernel taps (zero padding included). The
 * error that rounding a channel's kernel adds to its output has mean square Δwᵀ M Δw, so these moments let the
 * rounding be chosen per channel instead of to nearest (adaptive-rounding.ts).
 */

export interface ConvGeometry {
  /** Kernel height and width. */
  kernel: [number, number];
  strides: [number, number];
  /** Begin and end padding: top, left, bottom, right. */
  pads: [number, number, number, number];
  dilations: [number, number];
}

export interface PatchMoments {
  taps: number;
  /** channels × taps × taps, summed; divide by `count` for the mean. */
  sums: Float64Array;
  /** Patches summed per channel. */
  count: number;
}

/** The geometry of a Conv node whose kernel is `kernelDims` ([M, C/group, kh, kw]); undefined unless 2-D. */
export function convGeometry(
  attrs: { pads?: number[] | undefined; strides?: number[] | undefined; dilations?: number[] | undefined },
  kernelDims: readonly number[],
): ConvGeometry | undefined {
  if (kernelDims.length !== 4) return undefined;
  const [p0, p1, p2, p3] = attrs.pads ?? [0, 0, 0, 0];
  const [s0, s1] = attrs.strides ?? [1, 1];
  const [d0, d1] = attrs.dilations ?? [1, 1];
  return {
    kernel: [kernelDims[2]!, kernelDims[3]!],
    strides: [s0!, s1!],
    pads: [p0!, p1!, p2!, p3!],
    dilations: [d0!, d1!],
  };
}

export function emptyMoments(channels: number, g: ConvGeometry): PatchMoments {
  const taps = g.kernel[0] * g.kernel[1];
  return { taps, sums: new Float64Array(channels * taps * taps), count: 0 };
}

/** Adds the patches of one NCHW activation (batch 1) to the moments. */
export function addPatchMoments(m: PatchMoments, values: Float32Array, dims: readonly number[], g: ConvGeometry): void {
  const [, channels, height, width] = dims as [number, number, number, number];
  const [kh, kw] = g.kernel;
  const outH = Math.floor((height + g.pads[0] + g.pads[2] - g.dilations[0] * (kh - 1) - 1) / g.strides[0]) + 1;
  const outW = Math.floor((width + g.pads[1] + g.pads[3] - g.dilations[1] * (kw - 1) - 1) / g.strides[1]) + 1;
  const taps = m.taps;
  const patch = new Float64Array(taps);
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    const acc = m.sums.subarray(c * taps * taps, (c + 1) * taps * taps);
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        for (let i = 0; i < kh; i++) {
          const y = oy * g.strides[0] - g.pads[0] + i * g.dilations[0];
          for (let j = 0; j < kw; j++) {
            const x = ox * g.strides[1] - g.pads[1] + j * g.dilations[1];
            patch[i * kw + j] = y >= 0 && y < height && x >= 0 && x < width ? values[plane + y * width + x]! : 0;
          }
        }
        for (let a = 0; a < taps; a++) {
          const pa = patch[a]!;
          if (pa === 0) continue;
          for (let b = a; b < taps; b++) acc[a * taps + b]! += pa * patch[b]!;
        }
      }
  }
  m.count += outH * outW;
}

/** The channel's mean moment matrix, symmetric, taps × taps. */
export function channelMoments(m: PatchMoments, channel: number): Float64Array {
  const t = m.taps;
  const out = new Float64Array(t * t);
  const acc = m.sums.subarray(channel * t * t, (channel + 1) * t * t);
  for (let a = 0; a < t; a++)
    for (let b = a; b < t; b++) out[a * t + b] = out[b * t + a] = acc[a * t + b]! / Math.max(1, m.count);
  return out;
}
