/**
 * Bilinear resize of 3-channel uint8 HWC images, a port of OpenCV's `cv2.resize(...,
 * INTER_LINEAR)` (the reference's resize everywhere): half-pixel centres, edge clamping,
 * 11-bit fixed-point coefficients, no antialiasing when shrinking, and the x86 SIMD path's
 * rounding of the vertical pass. sharp's `linear` kernel is not used because libvips widens
 * the filter when downsampling (an area-like average) and JPEG shrink-on-load changes the
 * samples; the reference takes exactly two taps per axis.
 */

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** Round half to even, as OpenCV's cvRound / saturate_cast on float. */
export function rint(x: number): number {
  const r = Math.round(x);
  return (r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r) + 0; // + 0: no -0
}

interface Taps {
  /** Element offset (pixel index * 3) of the first and second tap. */
  i0: Int32Array;
  i1: Int32Array;
  w0: Int32Array;
  w1: Int32Array;
}

const tapCache = new Map<string, Taps>();

/** Per-output-column (or row) taps and weights of OpenCV's INTER_LINEAR for one axis. */
function axisTaps(src: number, dst: number, clampFraction: boolean, stride: number): Taps {
  const key = `${src},${dst},${clampFraction ? 1 : 0},${stride}`;
  const cached = tapCache.get(key);
  if (cached) return cached;
  const scale = 1 / (dst / src);
  const t: Taps = { i0: new Int32Array(dst), i1: new Int32Array(dst), w0: new Int32Array(dst), w1: new Int32Array(dst) };
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampFraction) {
      if (s < 0) {
        f = 0;
        s = 0;
      }
      if (s >= src - 1) {
        f = 0;
        s = src - 1;
      }
    }
    const s0 = Math.min(Math.max(s, 0), src - 1);
    const s1 = Math.min(Math.max(s + 1, 0), src - 1);
    t.i0[d] = s0 * stride;
    t.i1[d] = s1 * stride;
    t.w0[d] = rint(Math.fround(1 - f) * COEF_SCALE);
    t.w1[d] = rint(f * COEF_SCALE);
  }
  if (tapCache.size > 256) tapCache.clear();
  tapCache.set(key, t);
  return t;
}

/**
 * Resizes `src` (sw x sh, RGB) to dw x dh. Writes into `dst` when given (length dw*dh*3).
 */
export function resizeBilinear(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, dst?: Uint8Array): Uint8Array {
  const out = dst ?? new Uint8Array(dw * dh * 3);
  if (sw === dw && sh === dh) {
    out.set(src.subarray(0, sw * sh * 3));
    return out;
  }
  const xt = axisTaps(sw, dw, true, 3);
  const yt = axisTaps(sh, dh, false, 1);
  const rowLen = dw * 3;
  let bufA = new Int32Array(rowLen);
  let bufB = new Int32Array(rowLen);
  let rowA = -1;
  let rowB = -1;
  const hpass = (sy: number, buf: Int32Array): void => {
    const base = sy * sw * 3;
    const { i0, i1, w0, w1 } = xt;
    for (let dx = 0, o = 0; dx < dw; dx++, o += 3) {
      const p0 = base + i0[dx];
      const p1 = base + i1[dx];
      const a0 = w0[dx];
      const a1 = w1[dx];
      buf[o] = src[p0] * a0 + src[p1] * a1;
      buf[o + 1] = src[p0 + 1] * a0 + src[p1 + 1] * a1;
      buf[o + 2] = src[p0 + 2] * a0 + src[p1 + 2] * a1;
    }
  };
  for (let dy = 0; dy < dh; dy++) {
    const r0 = yt.i0[dy];
    const r1 = yt.i1[dy];
    // Keep the two horizontally interpolated rows, reusing them across output rows.
    if (r0 !== rowA) {
      if (r0 === rowB) {
        const t = bufA;
        bufA = bufB;
        bufB = t;
        rowB = rowA;
        rowA = r0;
      } else {
        hpass(r0, bufA);
        rowA = r0;
      }
    }
    if (r1 !== rowB) {
      if (r1 === rowA) {
        bufB.set(bufA);
      } else {
        hpass(r1, bufB);
      }
      rowB = r1;
    }
    const b0 = yt.w0[dy];
    const b1 = yt.w1[dy];
    const o = dy * rowLen;
    for (let k = 0; k < rowLen; k++) {
      const v = ((((bufA[k] >> 4) * b0) >> 16) + (((bufB[k] >> 4) * b1) >> 16) + 2) >> 2;
      out[o + k] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}
