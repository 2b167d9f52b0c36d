/**
 * RandomHSV (`augment.py::RandomHSV`, 8.3.79+): gains r ~ U(-1, 1)·[h, s, v]; LUTs
 * hue' = (hue + r0·180) mod 180, sat' = clip(sat·(1 + r1)), val' = clip(val·(1 + r2)),
 * lut_sat[0] = 0; applied in OpenCV's 8-bit HSV (H in [0, 180)).
 *
 * RGB -> HSV is cv2's integer algorithm (12-bit division tables). HSV -> RGB follows cv2's
 * HSV2RGB, v·(1 - s/255·k/30), in exact integer arithmetic: round half up of
 * v·(7650 - s·k) / 7650. Equal to cv2 within 1 level.
 *
 * The GPU applies the same algorithm when it expands a batch to floats
 * (`kernels/image-input.ts`, with the constants and division formulas of `kernels/hsv.wgsl.ts`), so the data
 * loader only draws the gains and ships each image's three LUTs (`BatchData.hsv`).
 */
import { HSV_LUT_BYTES, HSV_SECTORS, HSV_SHIFT, HSV_SKIP, hsvHdiv, hsvRgbT, hsvSdiv } from '../../kernels/hsv.wgsl.js';
import type { Rng } from '../rng.js';

export interface HsvGains {
  h: number;
  s: number;
  v: number;
}

export const DEFAULT_HSV: HsvGains = { h: 0.015, s: 0.7, v: 0.4 };

const SDIV = Int32Array.from({ length: 256 }, (_, i) => hsvSdiv(i));
const HDIV = Int32Array.from({ length: 256 }, (_, i) => hsvHdiv(i));
const SECTOR_ORDER = Uint8Array.from(HSV_SECTORS.flat());

/** The random gains r (one draw each for h, s, v, in that order). */
export function drawHsvGains(rng: Rng, gains: HsvGains): [number, number, number] {
  return [rng.uniform(-1, 1) * gains.h, rng.uniform(-1, 1) * gains.s, rng.uniform(-1, 1) * gains.v];
}

export interface HsvLuts {
  hue: Uint8Array;
  sat: Uint8Array;
  val: Uint8Array;
}

/** The three LUTs of the reference for gains r. */
export function hsvLuts(r: readonly [number, number, number]): HsvLuts {
  const hue = new Uint8Array(256);
  const sat = new Uint8Array(256);
  const val = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    const h = (x + r[0] * 180) % 180;
    hue[x] = Math.trunc(h < 0 ? h + 180 : h);
    sat[x] = Math.trunc(Math.min(Math.max(x * (r[1] + 1), 0), 255));
    val[x] = Math.trunc(Math.min(Math.max(x * (r[2] + 1), 0), 255));
  }
  sat[0] = 0;
  return { hue, sat, val };
}

/** Writes image k's LUTs (or the skip mark for null) into a batch's `hsv` array. */
export function packHsvLuts(into: Uint8Array, k: number, luts: HsvLuts | null): void {
  const o = k * HSV_LUT_BYTES;
  if (!luts) {
    into.fill(0, o, o + HSV_LUT_BYTES);
    into[o + 255] = HSV_SKIP;
    return;
  }
  into.set(luts.hue, o);
  into.set(luts.sat, o + 256);
  into.set(luts.val, o + 512);
}

/** Image k's LUTs in a batch's `hsv` array, or null when it is marked to skip. */
export function unpackHsvLuts(hsv: Uint8Array, k: number): HsvLuts | null {
  const o = k * HSV_LUT_BYTES;
  if (hsv[o + 255] === HSV_SKIP) return null;
  return { hue: hsv.subarray(o, o + 256), sat: hsv.subarray(o + 256, o + 512), val: hsv.subarray(o + 512, o + 768) };
}

/** Applies a batch's `hsv` LUTs to its NHWC images (B·H·W·3 bytes) in place: the CPU twin of `imagesToTensor`'s. */
export function applyBatchHsv(images: Uint8Array, shape: readonly number[], hsv: Uint8Array): void {
  const [B, H, W] = shape;
  const slot = H * W * 3;
  for (let k = 0; k < B; k++) {
    const luts = unpackHsvLuts(hsv, k);
    if (luts) applyHsvLuts(images, k * slot, (k + 1) * slot, luts);
  }
}

/** Applies the HSV gains to `pixels` RGB pixels of img in place. No-op when all gains are 0. */
export function applyHsv(img: Uint8Array, pixels: number, r: readonly [number, number, number]): void {
  if (r[0] === 0 && r[1] === 0 && r[2] === 0) return;
  applyHsvLuts(img, 0, pixels * 3, hsvLuts(r));
}

/** Applies the LUTs of `hsvLuts` to the RGB bytes [from, to) of img in place (e.g. one row). */
export function applyHsvLuts(img: Uint8Array, from: number, to: number, luts: HsvLuts): void {
  const { hue, sat, val } = luts;
  const half = 1 << (HSV_SHIFT - 1);
  const tab = new Int32Array(4);
  for (let i = from; i < to; i += 3) {
    const R = img[i];
    const G = img[i + 1];
    const B = img[i + 2];
    if (R === G && G === B) {
      // Gray (the 114 fill included): S = 0, only the value LUT applies.
      img[i] = img[i + 1] = img[i + 2] = val[R];
      continue;
    }
    const v = R >= G ? (R >= B ? R : B) : G >= B ? G : B;
    const mn = R <= G ? (R <= B ? R : B) : G <= B ? G : B;
    const diff = v - mn;
    const s = (diff * SDIV[v] + half) >> HSV_SHIFT;
    // cv2 tests v == r first, then v == g.
    let h: number;
    if (v === R) h = G - B;
    else if (v === G) h = B - R + 2 * diff;
    else h = R - G + 4 * diff;
    h = (h * HDIV[diff] + half) >> HSV_SHIFT;
    if (h < 0) h += 180;
    const H = hue[h];
    const S = sat[s];
    const V = val[v];
    if (S === 0) {
      img[i] = img[i + 1] = img[i + 2] = V;
      continue;
    }
    const sector = (H * 2185) >> 16; // H / 30 for H < 256
    const k = H - sector * 30;
    tab[0] = V;
    tab[1] = hsvRgbT(V, S, 30);
    tab[2] = hsvRgbT(V, S, k);
    tab[3] = hsvRgbT(V, S, 30 - k);
    const o = sector * 3;
    img[i] = tab[SECTOR_ORDER[o]];
    img[i + 1] = tab[SECTOR_ORDER[o + 1]];
    img[i + 2] = tab[SECTOR_ORDER[o + 2]];
  }
}
