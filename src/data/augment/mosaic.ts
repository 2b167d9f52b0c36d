/**
 * 4-image mosaic (`Mosaic._mosaic4`): a 2s x 2s canvas filled with 114, a centre (xc, yc)
 * drawn from U(s/2, 3s/2), the first image's bottom-right corner at the centre and the others
 * around it, labels shifted, clipped to the canvas and zero-area boxes removed. The result is
 * then warped by `randomPerspective` with border -s/2 (output s x s).
 */
import { PAD_VALUE } from '../image.js';
import type { Rng } from '../rng.js';
import type { Sample } from './sample.js';
import { clipBoxes, filterBoxes } from './sample.js';

/** The reference's mosaic centre: `int(random.uniform(s // 2, 2 * s - s // 2))` for y then x. */
export function mosaicCentre(rng: Rng, s: number): { xc: number; yc: number } {
  const b = Math.floor(s / 2);
  const yc = Math.trunc(rng.uniform(b, 2 * s - b));
  const xc = Math.trunc(rng.uniform(b, 2 * s - b));
  return { xc, yc };
}

/**
 * Builds the mosaic of four samples (images of at most s on a side, boxes in their pixels).
 * `canvas` (length 4*s*s*3) is reused when given.
 */
export function mosaic4(parts: readonly Sample[], s: number, xc: number, yc: number, canvas?: Uint8Array): Sample {
  const S = 2 * s;
  const img4 = canvas ?? new Uint8Array(S * S * 3);
  img4.fill(PAD_VALUE, 0, S * S * 3);
  const boxes: number[] = [];
  const cls: number[] = [];
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    const w = p.width;
    const h = p.height;
    let x1a: number, y1a: number, x2a: number, y2a: number, x1b: number, y1b: number;
    if (i === 0) {
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), Math.max(yc - h, 0), xc, yc];
      [x1b, y1b] = [w - (x2a - x1a), h - (y2a - y1a)];
    } else if (i === 1) {
      [x1a, y1a, x2a, y2a] = [xc, Math.max(yc - h, 0), Math.min(xc + w, S), yc];
      [x1b, y1b] = [0, h - (y2a - y1a)];
    } else if (i === 2) {
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), yc, xc, Math.min(S, yc + h)];
      [x1b, y1b] = [w - (x2a - x1a), 0];
    } else {
      [x1a, y1a, x2a, y2a] = [xc, yc, Math.min(xc + w, S), Math.min(S, yc + h)];
      [x1b, y1b] = [0, 0];
    }
    const cw = x2a - x1a;
    const ch = y2a - y1a;
    if (cw > 0 && ch > 0) {
      for (let y = 0; y < ch; y++) {
        const src = ((y1b + y) * w + x1b) * 3;
        img4.set(p.img.subarray(src, src + cw * 3), ((y1a + y) * S + x1a) * 3);
      }
    }
    const padw = x1a - x1b;
    const padh = y1a - y1b;
    for (let k = 0; k < p.cls.length; k++) {
      cls.push(p.cls[k]);
      boxes.push(p.boxes[k * 4] + padw, p.boxes[k * 4 + 1] + padh, p.boxes[k * 4 + 2] + padw, p.boxes[k * 4 + 3] + padh);
    }
  }
  const out: Sample = { img: img4, width: S, height: S, boxes, cls };
  clipBoxes(out.boxes, S, S);
  filterBoxes(out, (i) => (boxes[i * 4 + 2] - boxes[i * 4]) * (boxes[i * 4 + 3] - boxes[i * 4 + 1]) > 0);
  return out;
}
