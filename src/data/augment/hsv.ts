/**
 * RandomHSV (`augment.py::RandomHSV`, 8.3.79+): gains r ~ U(-1, 1)·[h, s, v]; LUTs
 * hue' = (hue + r0·180) mod 180, sat' = clip(sat·(1 + r1)), val' = clip(val·(1 + r2)),
 * lut_sat[0] = 0; applied in OpenCV's 8-bit HSV (H in [0, 180)).
 *
 * RGB -> HSV is cv2's integer algorithm (12-bit division tables). HSV -> RGB follows cv2's
 * float HSV2RGB: v·(1 - s·k/30) rounded, with the factor (1 - s·k/30) tabulated once per
 * process for every s and hue fraction k/30 (62 KB, cache-resident; the old table of the
 * products for every v too took 2 MB and a cache miss per pixel). Equal to cv2 within 1 level.
 */
import type { Rng } from '../rng.js';

export interface HsvGains {
  h: number;
  s: number;
  v: number;
}

export const DEFAULT_HSV: HsvGains = { h: 0.015, s: 0.7, v: 0.4 };

const SHIFT = 12;
const SDIV = new Int32Array(256);
const HDIV = new Int32Array(256);
for (let i = 1; i < 256; i++) {
  SDIV[i] = Math.round((255 << SHIFT) / i);
  HDIV[i] = Math.round((180 << SHIFT) / (6 * i));
}

let factorTable: Float64Array | null = null;

/** F[s*31 + k] = 1 - s/255·k/30 (doubles: v·F rounded is the value cv2's HSV2RGB produces). */
function factorTableOnce(): Float64Array {
  if (factorTable) return factorTable;
  const t = new Float64Array(256 * 31);
  for (let s = 0; s < 256; s++) {
    const sf = s / 255;
    for (let k = 0; k <= 30; k++) t[s * 31 + k] = 1 - (sf * k) / 30;
  }
  factorTable = t;
  return t;
}

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

/** Applies the HSV gains to `pixels` RGB pixels of img in place. No-op when all gains are 0. */
export function applyHsv(img: Uint8Array, pixels: number, r: readonly [number, number, number]): void {
  if (r[0] === 0 && r[1] === 0 && r[2] === 0) return;
  applyHsvLuts(img, 0, pixels * 3, hsvLuts(r));
}

/** Applies the LUTs of `hsvLuts` to the RGB bytes [from, to) of img in place (e.g. one row). */
export function applyHsvLuts(img: Uint8Array, from: number, to: number, luts: HsvLuts): void {
  const { hue, sat, val } = luts;
  const F = factorTableOnce();
  for (let i = from; i < to; i += 3) {
    const R = img[i];
    const G = img[i + 1];
    const B = img[i + 2];
    if (R === G && G === B) {
      // Gray (the 114 fill included): S = 0, only the value LUT applies.
      img[i] = img[i + 1] = img[i + 2] = val[R];
      continue;
    }
    let v: number;
    let mn: number;
    if (R >= G) {
      if (R >= B) {
        v = R;
        mn = G < B ? G : B;
      } else {
        v = B;
        mn = G;
      }
    } else if (G >= B) {
      v = G;
      mn = R < B ? R : B;
    } else {
      v = B;
      mn = R;
    }
    const diff = v - mn;
    const s = (diff * SDIV[v] + (1 << (SHIFT - 1))) >> SHIFT;
    // cv2 tests v == r first, then v == g.
    let h: number;
    if (v === R) h = G - B;
    else if (v === G) h = B - R + 2 * diff;
    else h = R - G + 4 * diff;
    h = (h * HDIV[diff] + (1 << (SHIFT - 1))) >> SHIFT;
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
    const f = S * 31;
    // + 0.5 and truncation is Math.round for these non-negative products (checked for every v, s, k).
    const t1 = (V * F[f + 30] + 0.5) | 0;
    const t2 = (V * F[f + k] + 0.5) | 0;
    const t3 = (V * F[f + 30 - k] + 0.5) | 0;
    // cv2 sector_data (b, g, r) = {1,3,0},{1,0,2},{3,0,1},{0,2,1},{0,1,3},{2,1,0}; tab = [v, t1, t2, t3].
    switch (sector) {
      case 0:
        img[i] = V; img[i + 1] = t3; img[i + 2] = t1;
        break;
      case 1:
        img[i] = t2; img[i + 1] = V; img[i + 2] = t1;
        break;
      case 2:
        img[i] = t1; img[i + 1] = V; img[i + 2] = t3;
        break;
      case 3:
        img[i] = t1; img[i + 1] = t2; img[i + 2] = V;
        break;
      case 4:
        img[i] = t3; img[i + 1] = t1; img[i + 2] = V;
        break;
      default:
        img[i] = V; img[i + 1] = t1; img[i + 2] = t2;
        break;
    }
  }
}
