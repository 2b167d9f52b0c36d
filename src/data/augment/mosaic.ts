/**
 * 4-image mosaic (`Mosaic._mosaic4`): a 2s x 2s canvas filled with 114, a centre (xc, yc)
 * drawn from U(s/2, 3s/2), the first image's bottom-right corner at the centre and the others
 * around it, labels shifted, clipped to the canvas and zero-area boxes removed. The result is
 * then warped by `randomPerspective` with border -s/2 (output s x s).
 */
import { PAD_VALUE } from '../image.js';
import type { Rng } from '../rng.js';
import type { RowSample, RowSource } from './affine.js';
import type { Sample } from './sample.js';
import { clipBoxes, filterBoxes } from './sample.js';

/** The reference's mosaic centre: `int(random.uniform(s // 2, 2 * s - s // 2))` for y then x. */
export function mosaicCentre(rng: Rng, s: number): { xc: number; yc: number } {
  const b = Math.floor(s / 2);
  const yc = Math.trunc(rng.uniform(b, 2 * s - b));
  const xc = Math.trunc(rng.uniform(b, 2 * s - b));
  return { xc, yc };
}

interface Placement {
  img: Uint8Array;
  /** Source width (row stride). */
  w: number;
  /** Canvas rectangle [x1a, x2a) x [y1a, y2a) taken from the source at (x1b, y1b). */
  x1a: number;
  y1a: number;
  x2a: number;
  y2a: number;
  x1b: number;
  y1b: number;
}

/**
 * The mosaic of four samples (images of at most s on a side, boxes in their pixels) as a
 * RowSample: canvas rows are assembled on demand, so the warp of an axis-aligned matrix never
 * builds the 2s x 2s canvas; `rows.pixels()` materializes it (into `canvas` when given).
 */
export function mosaicRows(parts: readonly Sample[], s: number, xc: number, yc: number, canvas?: Uint8Array): RowSample {
  const S = 2 * s;
  const placements: Placement[] = [];
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
    if (x2a > x1a && y2a > y1a) placements.push({ img: p.img, w, x1a, y1a, x2a, y2a, x1b, y1b });
    const padw = x1a - x1b;
    const padh = y1a - y1b;
    for (let k = 0; k < p.cls.length; k++) {
      cls.push(p.cls[k]);
      boxes.push(p.boxes[k * 4] + padw, p.boxes[k * 4 + 1] + padh, p.boxes[k * 4 + 2] + padw, p.boxes[k * 4 + 3] + padh);
    }
  }
  const rowBuf = new Uint8Array(S * 3);
  /** Columns [c0, c1) of canvas row y. */
  const fillRow = (y: number, out: Uint8Array, o: number, c0: number, c1: number): void => {
    let x = c0; // next canvas column not yet written
    for (const q of placements) {
      if (y < q.y1a || y >= q.y2a) continue;
      const a = Math.max(q.x1a, c0);
      const b = Math.min(q.x2a, c1);
      if (b <= a) continue;
      if (a > x) out.fill(PAD_VALUE, o + x * 3, o + a * 3);
      const src = ((q.y1b + y - q.y1a) * q.w + q.x1b + a - q.x1a) * 3;
      out.set(q.img.subarray(src, src + (b - a) * 3), o + a * 3);
      x = b;
    }
    if (x < c1) out.fill(PAD_VALUE, o + x * 3, o + c1 * 3);
  };
  let full: Uint8Array | null = null;
  const rows: RowSource = {
    width: S,
    height: S,
    row(y, x0 = 0, x1 = S) {
      fillRow(y, rowBuf, 0, x0, x1);
      return rowBuf;
    },
    pixels() {
      if (!full) {
        full = canvas ?? new Uint8Array(S * S * 3);
        for (let y = 0; y < S; y++) fillRow(y, full, y * S * 3, 0, S);
      }
      return full;
    },
  };
  // Placements of a row are visited left to right: 0 before 1, 2 before 3.
  const out: RowSample = { rows, width: S, height: S, boxes, cls };
  clipBoxes(out.boxes, S, S);
  filterBoxes(out, (i) => (boxes[i * 4 + 2] - boxes[i * 4]) * (boxes[i * 4 + 3] - boxes[i * 4 + 1]) > 0);
  return out;
}

/** The mosaic as a materialized 2s x 2s sample (`canvas`, length 4·s·s·3, reused when given). */
export function mosaic4(parts: readonly Sample[], s: number, xc: number, yc: number, canvas?: Uint8Array): Sample {
  const m = mosaicRows(parts, s, xc, yc, canvas);
  return { img: m.rows.pixels(), width: m.width, height: m.height, boxes: m.boxes, cls: m.cls };
}
