/**
 * MixUp (`augment.py::MixUp`, p = mixup, default 0): ratio r ~ Beta(32, 32),
 * image = uint8(img·r + img2·(1 - r)), labels of both kept. Both samples have the same size.
 */
import type { Rng } from '../rng.js';
import type { Sample } from './sample.js';

export function drawMixupRatio(rng: Rng): number {
  return rng.beta(32, 32);
}

/** Blends `other` into `s` in place with ratio r and appends its labels. */
export function mixup(s: Sample, other: Sample, r: number): void {
  const a = s.img;
  const b = other.img;
  const n = s.width * s.height * 3;
  const q = 1 - r;
  for (let i = 0; i < n; i++) a[i] = (a[i] * r + b[i] * q) | 0;
  s.boxes.push(...other.boxes);
  s.cls.push(...other.cls);
}
