/**
 * A batch's boxes padded, as the reference's `preprocess` pads them into [batch, max boxes, 5]:
 * every image gets the same number of rows, a power of two (at least MIN_ROWS), the extra rows
 * all-zero boxes, which the loss treats as absent (its mask_gt). The loss's buffers then have the
 * same sizes from batch to batch, so the arena hands out the same offsets and the engine reuses
 * its bind groups instead of creating new ones for every batch with a different box count.
 */
import type { DetectionTargets } from '../yolo/loss/targets.js';

export const MIN_ROWS = 8;

export function padTargets(t: DetectionTargets, batch: number): DetectionTargets {
  const counts = new Array<number>(batch).fill(0);
  for (let i = 0; i < t.batchIdx.length; i++) counts[t.batchIdx[i]]++;
  const most = Math.max(0, ...counts);
  const rows = Math.max(MIN_ROWS, 2 ** Math.ceil(Math.log2(Math.max(most, 1))));
  const n = t.batchIdx.length;
  const total = rows * batch;
  const batchIdx = new Float32Array(total);
  const cls = new Float32Array(total);
  const bboxes = new Float32Array(4 * total);
  batchIdx.set(Array.from(t.batchIdx));
  cls.set(Array.from(t.cls));
  bboxes.set(Array.from(t.bboxes));
  // The padding rows follow the real ones, `rows - count` for each image (class 0, box 0 0 0 0).
  let r = n;
  counts.forEach((count, image) => {
    for (let k = count; k < rows; k++) batchIdx[r++] = image;
  });
  return { batchIdx, cls, bboxes };
}
