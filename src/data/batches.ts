/**
 * Which images go in which batch, at which size:
 * - sample order per epoch: a permutation from (seed, epoch) (identity without shuffle);
 * - rectangular batches (`BaseDataset.set_rectangle`): images sorted by aspect ratio h/w, and
 *   per batch shape = ceil([h/w ratio, 1] or [1, w/h ratio] · imgsz / stride + pad) · stride;
 * - multi-scale: per batch a size in [imgsz·(1-r), imgsz·(1+r) + stride) floored to the stride
 *   (r = 0.5 is 8.3's `multi_scale=True`: 320..960 at 640), drawn from (seed, epoch, batch).
 */
import { Rng } from './rng.js';

const STREAM_ORDER = 11;
const STREAM_SCALE = 12;

/** The sample order of an epoch. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) Rng.derive(seed, epoch, STREAM_ORDER).shuffle(order);
  return order;
}

export interface RectBatches {
  /** Dataset indices sorted by aspect ratio (h / w), stable. */
  order: number[];
  /** [h, w] per batch. */
  shapes: [number, number][];
}

/** The reference's rectangular batch shapes for `shapes` ([h, w] per image). */
export function rectBatches(shapes: readonly (readonly [number, number])[], batch: number, imgsz: number, stride: number, pad: number): RectBatches {
  const n = shapes.length;
  const ar = shapes.map(([h, w]) => h / w);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ar[a] - ar[b] || a - b);
  const nb = Math.ceil(n / batch);
  const out: [number, number][] = [];
  for (let b = 0; b < nb; b++) {
    const slice = order.slice(b * batch, (b + 1) * batch).map((i) => ar[i]);
    const mini = Math.min(...slice);
    const maxi = Math.max(...slice);
    let s: [number, number] = [1, 1];
    if (maxi < 1) s = [maxi, 1];
    else if (mini > 1) s = [1, 1 / mini];
    out.push([Math.ceil((s[0] * imgsz) / stride + pad) * stride, Math.ceil((s[1] * imgsz) / stride + pad) * stride]);
  }
  return { order, shapes: out };
}

/** Range factor r of multi-scale training: true -> 0.5 (8.3 behaviour), false/0 -> off. */
export function multiScaleRange(option: boolean | number | undefined): number {
  if (option === true) return 0.5;
  if (!option) return 0;
  return option;
}

/** The size of batch `batchIndex` of `epoch` under multi-scale training with range r. */
export function multiScaleSize(seed: number, epoch: number, batchIndex: number, imgsz: number, stride: number, r: number): number {
  if (r <= 0) return imgsz;
  const lo = Math.trunc(imgsz * (1 - r));
  const hi = Math.trunc(imgsz * (1 + r) + stride);
  const sz = Math.floor(Rng.derive(seed, epoch, batchIndex, STREAM_SCALE).int(lo, hi) / stride) * stride;
  return Math.max(stride, sz);
}

/** The largest multi-scale size (for memory planning). */
export function maxMultiScaleSize(imgsz: number, stride: number, r: number): number {
  if (r <= 0) return imgsz;
  return Math.floor((Math.trunc(imgsz * (1 + r) + stride) - 1) / stride) * stride;
}

/**
 * Output [h, w] of an image of [h, w] = shape resized so that its long side is `size`
 * (the reference's `sf = sz / max(shape)`, each side `ceil(side·sf / stride)·stride`).
 */
export function multiScaleShape(shape: readonly [number, number], size: number, stride: number): [number, number] {
  const sf = size / Math.max(shape[0], shape[1]);
  if (sf === 1) return [shape[0], shape[1]];
  return [Math.ceil((shape[0] * sf) / stride) * stride, Math.ceil((shape[1] * sf) / stride) * stride];
}

/** The mosaic partner pool of a batch: its own positions, widened to `batch` at the end of an epoch. */
export function partnerPool(order: ArrayLike<number>, start: number, batch: number): number[] {
  const n = order.length;
  const lo = Math.max(0, Math.min(start, n - batch));
  const hi = Math.min(n, lo + batch);
  const pool: number[] = [];
  for (let i = lo; i < hi; i++) pool.push(order[i]);
  return pool;
}
