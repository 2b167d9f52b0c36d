/**
 * RandomPerspective (`augment.py::RandomPerspective`): M = T·S·R·P·C (centre, perspective,
 * rotation + scale, shear, translation), the image warped with fill 114 into the output size
 * (input size + 2·border), boxes warped by their 4 corners, clipped, and filtered by
 * `boxCandidates` (w, h > 2 px, area ratio > 0.1, aspect < 100).
 *
 * The warp is a CPU port of cv2.warpAffine / warpPerspective with INTER_LINEAR and a constant
 * border: inverse map with 10-bit fixed-point coordinates quantized to 1/32 px, 2x2 taps with
 * weights (32-fx)(32-fy)... and rounding (+512) >> 10, taps outside the source reading 114.
 * Axis-aligned matrices (degrees = shear = 0, the defaults) take a separable path that gives
 * identical results with two multiply-adds per channel per axis; it also applies the HSV and
 * flips that follow (`PixelOps`) as it writes each row.
 */
import { PAD_VALUE } from '../image.js';
import { rint } from '../resize.js';
import type { Rng } from '../rng.js';
import { applyHsvLuts } from './hsv.js';
import type { PixelOps } from './pixel-ops.js';
import { applyPixelOpsToImage, flipBoxes } from './pixel-ops.js';
import type { Sample } from './sample.js';
import { clipBoxes } from './sample.js';

export interface PerspectiveHyp {
  /** Rotation range ±degrees (default 0). */
  degrees: number;
  /** Translation ±fraction of the output size (default 0.1). */
  translate: number;
  /** Scale gain U(1 - scale, 1 + scale) (default 0.5). */
  scale: number;
  /** Shear ±degrees (default 0). */
  shear: number;
  /** Perspective ±(default 0; 0.0001 is a typical non-zero value). */
  perspective: number;
}

export const DEFAULT_PERSPECTIVE: PerspectiveHyp = { degrees: 0, translate: 0.1, scale: 0.5, shear: 0, perspective: 0 };

/** Row-major 3x3. */
export type Mat3 = Float64Array;

/**
 * An image the warp reads row by row: a plain buffer, or a mosaic assembled row by row on
 * demand (no 2s x 2s canvas for the axis-aligned warp).
 */
export interface RowSource {
  readonly width: number;
  readonly height: number;
  /** Row y as width·3 bytes, of which columns [x0, x1) (default all) are valid; the view is valid until the next call. */
  row(y: number, x0?: number, x1?: number): Uint8Array;
  /** The whole image (materialized on first use where it is not a plain buffer). */
  pixels(): Uint8Array;
}

export function bufferRows(img: Uint8Array, width: number, height: number): RowSource {
  const rowBytes = width * 3;
  return { width, height, row: (y) => img.subarray(y * rowBytes, (y + 1) * rowBytes), pixels: () => img };
}

export function matmul3(a: Mat3, b: Mat3): Mat3 {
  const c = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) c[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  }
  return c;
}

function eye(): Mat3 {
  return new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
}

/**
 * The reference's random matrix for an input of inW x inH warped into outW x outH.
 * Draw order: perspective x, y; angle; scale; shear x, y; translate x, y.
 */
export function randomAffineMatrix(rng: Rng, inW: number, inH: number, outW: number, outH: number, hyp: PerspectiveHyp): { M: Mat3; scale: number } {
  const C = eye();
  C[2] = -inW / 2;
  C[5] = -inH / 2;
  const P = eye();
  P[6] = rng.uniform(-hyp.perspective, hyp.perspective);
  P[7] = rng.uniform(-hyp.perspective, hyp.perspective);
  const R = eye();
  const a = rng.uniform(-hyp.degrees, hyp.degrees);
  const s = rng.uniform(1 - hyp.scale, 1 + hyp.scale);
  // cv2.getRotationMatrix2D(center=(0, 0), angle=a, scale=s)
  const rad = (a * Math.PI) / 180;
  const alpha = s * Math.cos(rad);
  const beta = s * Math.sin(rad);
  R[0] = alpha;
  R[1] = beta;
  R[3] = -beta;
  R[4] = alpha;
  const S = eye();
  S[1] = Math.tan((rng.uniform(-hyp.shear, hyp.shear) * Math.PI) / 180);
  S[3] = Math.tan((rng.uniform(-hyp.shear, hyp.shear) * Math.PI) / 180);
  const T = eye();
  T[2] = rng.uniform(0.5 - hyp.translate, 0.5 + hyp.translate) * outW;
  T[5] = rng.uniform(0.5 - hyp.translate, 0.5 + hyp.translate) * outH;
  return { M: matmul3(T, matmul3(S, matmul3(R, matmul3(P, C)))), scale: s };
}

function isIdentity(M: Mat3): boolean {
  return M[0] === 1 && M[1] === 0 && M[2] === 0 && M[3] === 0 && M[4] === 1 && M[5] === 0 && M[6] === 0 && M[7] === 0 && M[8] === 1;
}

/** Inverse of a 3x3 (adjugate / determinant); zero matrix when singular. */
export function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const Cc = d * h - e * g;
  const det = a * A + b * B + c * Cc;
  const inv = new Float64Array(9);
  if (det === 0) return inv;
  const r = 1 / det;
  inv[0] = A * r;
  inv[1] = -(b * i - c * h) * r;
  inv[2] = (b * f - c * e) * r;
  inv[3] = B * r;
  inv[4] = (a * i - c * g) * r;
  inv[5] = -(a * f - c * d) * r;
  inv[6] = Cc * r;
  inv[7] = -(a * h - b * g) * r;
  inv[8] = (a * e - b * d) * r;
  return inv;
}

/** cv2.invertAffineTransform of the top 2x3 of M. */
function invertAffine(M: Mat3): Float64Array {
  let D = M[0] * M[4] - M[1] * M[3];
  D = D !== 0 ? 1 / D : 0;
  const A11 = M[4] * D;
  const A22 = M[0] * D;
  const A12 = -M[1] * D;
  const A21 = -M[3] * D;
  const b1 = -A11 * M[2] - A12 * M[5];
  const b2 = -A21 * M[2] - A22 * M[5];
  return new Float64Array([A11, A12, b1, A21, A22, b2]);
}

/**
 * Warps `src` (sw x sh RGB) by the forward matrix M into `dst` (dw x dh), fill 114, then
 * applies `ops` to the pixels. `ox, oy`: where src sits in the frame M was made for (a
 * letterbox without the copy).
 */
export function warpImage(
  src: Uint8Array | RowSource,
  sw: number,
  sh: number,
  M: Mat3,
  dst: Uint8Array,
  dw: number,
  dh: number,
  ox = 0,
  oy = 0,
  ops?: PixelOps,
): void {
  const rows = src instanceof Uint8Array ? bufferRows(src, sw, sh) : src;
  // Shift the frame origin: M' = M · translate(ox, oy).
  const Mf = ox !== 0 || oy !== 0 ? matmul3(M, new Float64Array([1, 0, ox, 0, 1, oy, 0, 0, 1])) : M;
  const iM = Mf[6] !== 0 || Mf[7] !== 0 || Mf[8] !== 1 ? null : invertAffine(Mf);
  if (iM && iM[1] === 0 && iM[3] === 0) {
    warpAffineSeparable(rows, iM, dst, dw, dh, ops);
    return;
  }
  if (iM) warpAffineGeneric(rows.pixels(), sw, sh, iM, dst, dw, dh);
  else warpPerspectiveGeneric(rows.pixels(), sw, sh, invert3(Mf), dst, dw, dh);
  if (ops) applyPixelOpsToImage(dst, dw, dh, ops);
}

const FILL32 = PAD_VALUE * 32;

/**
 * One source row filtered horizontally, two channels in one 32-bit lane pair: rb[x] = R | B << 16
 * and g[x] = G, each channel p(sx)·(32-fx) + p(sx+1)·fx <= 255·32 (fits 16 bits).
 */
interface HRow {
  rb: Int32Array;
  g: Int32Array;
}

function hrow(dw: number): HRow {
  return { rb: new Int32Array(dw), g: new Int32Array(dw) };
}

/**
 * Horizontal pass of one source row (bytes [base, base + sw·3) of `view`) through the column
 * map (byte offset px, weight fx), taps outside reading 114. The interior reads a pixel pair
 * with two 32-bit loads (bytes p..p+3 and p+2..p+5, both within the pair) and filters R and B
 * with one multiply (SWAR); Math.imul: no overflow / -0 checks. The measured hot loop.
 */
function hpassRow(view: DataView, base: number, sw: number, px: Int32Array, wx: Int32Array, xa: number, xb: number, h: HRow): void {
  // Edges before the loop: code after it (first reached by the loop's on-stack-replaced
  // version, without type feedback) was measured to deoptimize on every call in Node 20.
  hpassEdges(view, base, sw, px, wx, 0, xa, h);
  hpassEdges(view, base, sw, px, wx, xb, px.length, h);
  const rb = h.rb;
  const gg = h.g;
  for (let x = xa; x < xb; x++) {
    const p = base + px[x];
    const f = wx[x];
    const g = 32 - f;
    const w0 = view.getUint32(p, true); // R0 G0 B0 R1
    const w1 = view.getUint32(p + 2, true); // B0 R1 G1 B1
    rb[x] = Math.imul(w0 & 0xff00ff, g) + Math.imul((w0 >>> 24) | ((w1 >>> 8) & 0xff0000), f);
    gg[x] = Math.imul((w0 >>> 8) & 0xff, g) + Math.imul((w1 >>> 16) & 0xff, f);
  }
}

/** Columns [x0, x1) of `hpassRow` where a tap may fall outside the source (reads 114). */
function hpassEdges(view: DataView, base: number, sw: number, px: Int32Array, wx: Int32Array, x0: number, x1: number, h: HRow): void {
  const end = sw * 3;
  for (let x = x0; x < x1; x++) {
    const p = px[x];
    const f = wx[x];
    const g = 32 - f;
    let rb = 0;
    let gg = 0;
    for (let t = 0; t < 2; t++) {
      const q = p + 3 * t; // byte offset of tap t
      const w = t === 0 ? g : f;
      const inside = q >= 0 && q < end;
      rb += (inside ? view.getUint8(base + q) | (view.getUint8(base + q + 2) << 16) : PAD_VALUE | (PAD_VALUE << 16)) * w;
      gg += (inside ? view.getUint8(base + q + 1) : PAD_VALUE) * w;
    }
    h.rb[x] = rb;
    h.g[x] = gg;
  }
}

/** Vertical pass of columns [x0, x1) of the output row at d[o]: (h0·(32-fy) + h1·fy) / 1024, rounded. */
function vpassRow(h0: HRow, h1: HRow, fy: number, d: Uint8Array, o: number, x0: number, x1: number): void {
  const rb0 = h0.rb;
  const rb1 = h1.rb;
  const g0 = h0.g;
  const g1 = h1.g;
  const gy = 32 - fy;
  o += x0 * 3;
  // Two pixels per iteration: measured faster.
  let x = x0;
  for (; x + 1 < x1; x += 2, o += 6) {
    const a = rb0[x];
    const b = rb1[x];
    const a2 = rb0[x + 1];
    const b2 = rb1[x + 1];
    d[o] = (Math.imul(a & 0xffff, gy) + Math.imul(b & 0xffff, fy) + 512) >> 10;
    d[o + 1] = (Math.imul(g0[x], gy) + Math.imul(g1[x], fy) + 512) >> 10;
    d[o + 2] = (Math.imul(a >>> 16, gy) + Math.imul(b >>> 16, fy) + 512) >> 10;
    d[o + 3] = (Math.imul(a2 & 0xffff, gy) + Math.imul(b2 & 0xffff, fy) + 512) >> 10;
    d[o + 4] = (Math.imul(g0[x + 1], gy) + Math.imul(g1[x + 1], fy) + 512) >> 10;
    d[o + 5] = (Math.imul(a2 >>> 16, gy) + Math.imul(b2 >>> 16, fy) + 512) >> 10;
  }
  for (; x < x1; x++, o += 3) {
    const a = rb0[x];
    const b = rb1[x];
    d[o] = (Math.imul(a & 0xffff, gy) + Math.imul(b & 0xffff, fy) + 512) >> 10;
    d[o + 1] = (Math.imul(g0[x], gy) + Math.imul(g1[x], fy) + 512) >> 10;
    d[o + 2] = (Math.imul(a >>> 16, gy) + Math.imul(b >>> 16, fy) + 512) >> 10;
  }
}

/**
 * `hpassRow` of a new source row into h1 and `vpassRow` of the output row in one loop over the
 * interior columns (h1 stays in registers): the common case of a scale near 1.
 */
function hvpassRow(view: DataView, base: number, sw: number, px: Int32Array, wx: Int32Array, xa: number, xb: number, h0: HRow, h1: HRow, fy: number, d: Uint8Array, o: number): void {
  // Edges before the loop (see hpassRow).
  hpassEdges(view, base, sw, px, wx, 0, xa, h1);
  hpassEdges(view, base, sw, px, wx, xb, px.length, h1);
  vpassRow(h0, h1, fy, d, o, 0, xa);
  vpassRow(h0, h1, fy, d, o, xb, px.length);
  const rb0 = h0.rb;
  const g0 = h0.g;
  const rb1 = h1.rb;
  const g1 = h1.g;
  const gy = 32 - fy;
  for (let x = xa, q = o + xa * 3; x < xb; x++, q += 3) {
    const p = base + px[x];
    const f = wx[x];
    const g = 32 - f;
    const w0 = view.getUint32(p, true);
    const w1 = view.getUint32(p + 2, true);
    const b = Math.imul(w0 & 0xff00ff, g) + Math.imul((w0 >>> 24) | ((w1 >>> 8) & 0xff0000), f);
    const bg = Math.imul((w0 >>> 8) & 0xff, g) + Math.imul((w1 >>> 16) & 0xff, f);
    rb1[x] = b;
    g1[x] = bg;
    const a = rb0[x];
    d[q] = (Math.imul(a & 0xffff, gy) + Math.imul(b & 0xffff, fy) + 512) >> 10;
    d[q + 1] = (Math.imul(g0[x], gy) + Math.imul(bg, fy) + 512) >> 10;
    d[q + 2] = (Math.imul(a >>> 16, gy) + Math.imul(b >>> 16, fy) + 512) >> 10;
  }
}

function warpAffineSeparable(src: RowSource, iM: Float64Array, dst: Uint8Array, dw: number, dh: number, ops?: PixelOps): void {
  const sw = src.width;
  const sh = src.height;
  const X0 = rint(iM[2] * 1024) + 16;
  const px = new Int32Array(dw); // byte offset of the left tap: sx·3
  const wx = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    const X = (X0 + rint(iM[0] * x * 1024)) >> 5;
    px[x] = (X >> 5) * 3;
    wx[x] = X & 31;
  }
  // A horizontal flip is the mirrored column map; a vertical one writes row y to dh - 1 - y.
  if (ops?.flipLR) {
    px.reverse();
    wx.reverse();
  }
  const flipUD = ops?.flipUD ?? false;
  const hsv = ops?.hsv ?? null;
  // Interior columns [xa, xb): both taps inside the source (sx is monotonic in x); xa = xb = dw when none.
  let xa = dw;
  let xb = dw;
  for (let x = 0; x < dw; x++) {
    if (px[x] < 0 || px[x] + 3 >= sw * 3) continue;
    if (xa === dw) xa = x;
    xb = x + 1;
  }
  // Source columns any tap reads: a mosaic assembles only those of each row.
  const c0 = Math.min(Math.max(Math.min(px[0], px[dw - 1]) / 3, 0), sw);
  const c1 = Math.min(Math.max(Math.max(px[0], px[dw - 1]) / 3 + 2, 0), sw);
  const rowLen = dw * 3;
  const fillRow = hrow(dw);
  fillRow.rb.fill(FILL32 | (FILL32 << 16));
  fillRow.g.fill(FILL32);
  let bufA = hrow(dw);
  let bufB = hrow(dw);
  let rowA = -2;
  let rowB = -2;
  let view: DataView | null = null;
  /** The source row r as (view, byte offset of its column 0). */
  const sourceRow = (r: number): number => {
    const row = src.row(r, c0, c1);
    if (view?.buffer !== row.buffer) view = new DataView(row.buffer);
    return row.byteOffset;
  };
  for (let y = 0; y < dh; y++) {
    const Y = (rint((iM[4] * y + iM[5]) * 1024) + 16) >> 5;
    const sy = Y >> 5;
    const fy = Y & 31;
    const r0 = sy >= 0 && sy < sh ? sy : -1;
    const r1 = sy + 1 >= 0 && sy + 1 < sh ? sy + 1 : -1;
    const o = (flipUD ? dh - 1 - y : y) * rowLen;
    if (r0 < 0 && r1 < 0) {
      dst.fill(PAD_VALUE, o, o + rowLen);
      if (hsv) applyHsvLuts(dst, o, o + rowLen, hsv);
      continue;
    }
    // The horizontal passes of the previous output row's source rows are reused: (rowA, bufA)
    // for r0, (rowB, bufB) for r1.
    let h0 = fillRow;
    if (r0 >= 0) {
      if (r0 !== rowA) {
        if (r0 === rowB) {
          const t = bufA;
          bufA = bufB;
          bufB = t;
          rowB = rowA;
        } else {
          const base = sourceRow(r0);
          hpassRow(view!, base, sw, px, wx, xa, xb, bufA);
        }
        rowA = r0;
      }
      h0 = bufA;
    }
    if (r1 >= 0 && r1 !== rowB && r1 !== rowA) {
      const base = sourceRow(r1);
      hvpassRow(view!, base, sw, px, wx, xa, xb, h0, bufB, fy, dst, o);
      rowB = r1;
    } else {
      if (r1 >= 0 && r1 !== rowB) {
        bufB.rb.set(bufA.rb); // r1 === rowA: a decreasing row map
        bufB.g.set(bufA.g);
        rowB = r1;
      }
      vpassRow(h0, r1 >= 0 ? bufB : fillRow, fy, dst, o, 0, dw);
    }
    if (hsv) applyHsvLuts(dst, o, o + rowLen, hsv);
  }
}

function warpAffineGeneric(src: Uint8Array, sw: number, sh: number, iM: Float64Array, dst: Uint8Array, dw: number, dh: number): void {
  const adelta = new Int32Array(dw);
  const bdelta = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    adelta[x] = rint(iM[0] * x * 1024);
    bdelta[x] = rint(iM[3] * x * 1024);
  }
  for (let y = 0; y < dh; y++) {
    const X0 = rint((iM[1] * y + iM[2]) * 1024) + 16;
    const Y0 = rint((iM[4] * y + iM[5]) * 1024) + 16;
    let o = y * dw * 3;
    for (let x = 0; x < dw; x++, o += 3) sample(src, sw, sh, (X0 + adelta[x]) >> 5, (Y0 + bdelta[x]) >> 5, dst, o);
  }
}

function warpPerspectiveGeneric(src: Uint8Array, sw: number, sh: number, iM: Mat3, dst: Uint8Array, dw: number, dh: number): void {
  for (let y = 0; y < dh; y++) {
    let o = y * dw * 3;
    for (let x = 0; x < dw; x++, o += 3) {
      let W = iM[6] * x + iM[7] * y + iM[8];
      W = W !== 0 ? 32 / W : 0;
      const fX = Math.max(-2147483648, Math.min(2147483647, (iM[0] * x + iM[1] * y + iM[2]) * W));
      const fY = Math.max(-2147483648, Math.min(2147483647, (iM[3] * x + iM[4] * y + iM[5]) * W));
      sample(src, sw, sh, rint(fX), rint(fY), dst, o);
    }
  }
}

/** One bilinear output pixel at source position (X, Y) in 1/32 px, border 114 (cv2 remapBilinear). */
function sample(src: Uint8Array, sw: number, sh: number, X: number, Y: number, dst: Uint8Array, o: number): void {
  const sx = X >> 5;
  const sy = Y >> 5;
  const fx = X & 31;
  const fy = Y & 31;
  const w00 = (32 - fx) * (32 - fy);
  const w01 = fx * (32 - fy);
  const w10 = (32 - fx) * fy;
  const w11 = fx * fy;
  if (sx >>> 0 < sw - 1 && sy >>> 0 < sh - 1) {
    const p = (sy * sw + sx) * 3;
    const q = p + sw * 3;
    dst[o] = (src[p] * w00 + src[p + 3] * w01 + src[q] * w10 + src[q + 3] * w11 + 512) >> 10;
    dst[o + 1] = (src[p + 1] * w00 + src[p + 4] * w01 + src[q + 1] * w10 + src[q + 4] * w11 + 512) >> 10;
    dst[o + 2] = (src[p + 2] * w00 + src[p + 5] * w01 + src[q + 2] * w10 + src[q + 5] * w11 + 512) >> 10;
    return;
  }
  if (sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0) {
    dst[o] = dst[o + 1] = dst[o + 2] = PAD_VALUE;
    return;
  }
  const in0 = sx >= 0;
  const in1 = sx + 1 < sw;
  const r0 = sy >= 0;
  const r1 = sy + 1 < sh;
  for (let c = 0; c < 3; c++) {
    const v00 = in0 && r0 ? src[(sy * sw + sx) * 3 + c] : PAD_VALUE;
    const v01 = in1 && r0 ? src[(sy * sw + sx + 1) * 3 + c] : PAD_VALUE;
    const v10 = in0 && r1 ? src[((sy + 1) * sw + sx) * 3 + c] : PAD_VALUE;
    const v11 = in1 && r1 ? src[((sy + 1) * sw + sx + 1) * 3 + c] : PAD_VALUE;
    dst[o + c] = (v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11 + 512) >> 10;
  }
}

/** Warps xyxy boxes by their 4 corners and takes the enclosing box (`apply_bboxes`). */
export function transformBoxes(boxes: readonly number[], M: Mat3): number[] {
  const out: number[] = new Array(boxes.length);
  const persp = M[6] !== 0 || M[7] !== 0 || M[8] !== 1;
  for (let i = 0; i < boxes.length; i += 4) {
    const xs = [boxes[i], boxes[i + 2], boxes[i], boxes[i + 2]];
    const ys = [boxes[i + 1], boxes[i + 3], boxes[i + 3], boxes[i + 1]];
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    for (let k = 0; k < 4; k++) {
      let X = M[0] * xs[k] + M[1] * ys[k] + M[2];
      let Y = M[3] * xs[k] + M[4] * ys[k] + M[5];
      if (persp) {
        const W = M[6] * xs[k] + M[7] * ys[k] + M[8];
        X /= W;
        Y /= W;
      }
      x1 = Math.min(x1, X);
      y1 = Math.min(y1, Y);
      x2 = Math.max(x2, X);
      y2 = Math.max(y2, Y);
    }
    out[i] = x1;
    out[i + 1] = y1;
    out[i + 2] = x2;
    out[i + 3] = y2;
  }
  return out;
}

/**
 * The reference's `box_candidates`: keep box i when the warped box2 is wider and taller than
 * wh_thr px, keeps more than area_thr of box1's (scaled original) area, and its aspect < ar_thr.
 */
export function boxCandidates(box1: readonly number[], box2: readonly number[], whThr = 2, arThr = 100, areaThr = 0.1, eps = 1e-16): boolean[] {
  const keep: boolean[] = [];
  for (let i = 0; i < box2.length; i += 4) {
    const w1 = box1[i + 2] - box1[i];
    const h1 = box1[i + 3] - box1[i + 1];
    const w2 = box2[i + 2] - box2[i];
    const h2 = box2[i + 3] - box2[i + 1];
    const ar = Math.max(w2 / (h2 + eps), h2 / (w2 + eps));
    keep.push(w2 > whThr && h2 > whThr && (w2 * h2) / (w1 * h1 + eps) > areaThr && ar < arThr);
  }
  return keep;
}

/** A sample whose pixels are read through a RowSource (e.g. a mosaic not yet assembled). */
export interface RowSample {
  rows: RowSource;
  width: number;
  height: number;
  boxes: number[];
  cls: number[];
}

export interface PerspectiveFrame {
  /** Size of the image the matrix is made for (e.g. the letterboxed size). */
  width: number;
  height: number;
  /** Where the sample's pixels sit in that frame; the rest reads as 114. */
  offsetX: number;
  offsetY: number;
}

/**
 * RandomPerspective on a sample: `border` (the reference's mosaic_border, -s/2 for a mosaic,
 * 0 otherwise) shrinks or grows the output to frame + 2·border. Writes into `out` when given.
 * `pixelOps`, called once the matrix is drawn: the HSV and flips to apply to the result
 * (pixels and boxes), fused with the warp where it can be.
 */
export function randomPerspective(
  sample: Sample | RowSample,
  rng: Rng,
  hyp: PerspectiveHyp,
  border: number,
  options: { out?: Uint8Array; frame?: PerspectiveFrame; pixelOps?: () => PixelOps } = {},
): Sample {
  const rows = 'rows' in sample ? sample.rows : bufferRows(sample.img, sample.width, sample.height);
  const frame = options.frame ?? { width: sample.width, height: sample.height, offsetX: 0, offsetY: 0 };
  const outW = frame.width + 2 * border;
  const outH = frame.height + 2 * border;
  const { M, scale } = randomAffineMatrix(rng, frame.width, frame.height, outW, outH, hyp);
  const ops = options.pixelOps?.();
  const dst = options.out ?? new Uint8Array(outW * outH * 3);
  const framed = sample.boxes.map((v, i) => v + (i % 2 === 0 ? frame.offsetX : frame.offsetY));
  if (border === 0 && isIdentity(M)) {
    // The reference skips the warp; only the frame (letterbox padding) is materialized.
    placeInFrame({ img: rows.pixels(), width: sample.width, height: sample.height, boxes: [], cls: [] }, frame, dst);
    if (ops) {
      applyPixelOpsToImage(dst, outW, outH, ops);
      flipBoxes(framed, outW, outH, ops);
    }
    return { img: dst, width: outW, height: outH, boxes: framed, cls: [...sample.cls] };
  }
  warpImage(rows, sample.width, sample.height, M, dst, outW, outH, frame.offsetX, frame.offsetY, ops);
  const warped = transformBoxes(framed, M);
  clipBoxes(warped, outW, outH);
  const scaled = framed.map((v) => v * scale);
  const keep = boxCandidates(scaled, warped);
  const boxes: number[] = [];
  const cls: number[] = [];
  keep.forEach((k, i) => {
    if (!k) return;
    boxes.push(warped[i * 4], warped[i * 4 + 1], warped[i * 4 + 2], warped[i * 4 + 3]);
    cls.push(sample.cls[i]);
  });
  if (ops) flipBoxes(boxes, outW, outH, ops);
  return { img: dst, width: outW, height: outH, boxes, cls };
}

/** Copies a sample into a larger frame filled with 114. */
export function placeInFrame(sample: Sample, frame: PerspectiveFrame, dst: Uint8Array): void {
  const fw = frame.width;
  if (frame.width !== sample.width || frame.height !== sample.height) dst.fill(PAD_VALUE, 0, fw * frame.height * 3);
  const rowBytes = sample.width * 3;
  for (let y = 0; y < sample.height; y++) {
    dst.set(sample.img.subarray(y * rowBytes, (y + 1) * rowBytes), ((y + frame.offsetY) * fw + frame.offsetX) * 3);
  }
}
