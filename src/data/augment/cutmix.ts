/**
 * CutMix (`augment.py::CutMix`, p = cutmix, default 0; beta 1, 3 candidate areas): a random
 * rectangle that overlaps none of the sample's boxes is pasted from a second sample (same
 * size), with that sample's boxes covering at least 10% of their area inside it, clipped.
 */
import type { Rng } from '../rng.js';
import type { Sample } from './sample.js';

/** Intersection over the area of box2 (`bbox_ioa`). */
function ioa(a: readonly number[], boxes: readonly number[], j: number): number {
  const iw = Math.min(a[2], boxes[j + 2]) - Math.max(a[0], boxes[j]);
  const ih = Math.min(a[3], boxes[j + 3]) - Math.max(a[1], boxes[j + 1]);
  const inter = Math.max(iw, 0) * Math.max(ih, 0);
  const area = (boxes[j + 2] - boxes[j]) * (boxes[j + 3] - boxes[j + 1]) + 1e-7;
  return inter / area;
}

function randBox(rng: Rng, w: number, h: number, beta: number): number[] {
  const lam = rng.beta(beta, beta);
  const cut = Math.sqrt(1 - lam);
  const cw = Math.trunc(w * cut);
  const ch = Math.trunc(h * cut);
  const cx = rng.int(0, w);
  const cy = rng.int(0, h);
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  return [clip(cx - (cw >> 1), w), clip(cy - (ch >> 1), h), clip(cx + (cw >> 1), w), clip(cy + (ch >> 1), h)];
}

/** Applies CutMix in place; returns false when no area free of boxes was found (sample unchanged). */
export function cutmix(s: Sample, other: Sample, rng: Rng, options: { beta?: number; numAreas?: number } = {}): boolean {
  const { beta = 1, numAreas = 3 } = options;
  const { width: w, height: h } = s;
  const areas = Array.from({ length: numAreas }, () => randBox(rng, w, h, beta));
  const free = areas.filter((a) => {
    let sum = 0;
    for (let j = 0; j < s.boxes.length; j += 4) sum += ioa(a, s.boxes, j);
    return sum <= 0;
  });
  if (free.length === 0) return false;
  const area = rng.choice(free);
  const picked: number[] = [];
  for (let j = 0; j < other.boxes.length; j += 4) if (ioa(area, other.boxes, j) >= 0.1) picked.push(j / 4);
  if (picked.length === 0) return false;
  const [x1, y1, x2, y2] = area.map((v) => Math.trunc(v));
  for (let y = y1; y < y2; y++) {
    const o = (y * w + x1) * 3;
    s.img.set(other.img.subarray(o, o + (x2 - x1) * 3), o);
  }
  for (const k of picked) {
    const b = other.boxes.slice(k * 4, k * 4 + 4);
    s.boxes.push(Math.min(Math.max(b[0], x1), x2), Math.min(Math.max(b[1], y1), y2), Math.min(Math.max(b[2], x1), x2), Math.min(Math.max(b[3], y1), y2));
    s.cls.push(other.cls[k]);
  }
  return true;
}
