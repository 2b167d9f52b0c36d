import { UserError } from '../../errors.js';
import type { Engine } from '../../gpu/engine.js';
import { Tensor } from '../../gpu/tensor.js';
import { xywh2xyxy } from '../box-ops.js';

/** A batch's ground truth as the data loader gives it: flat rows, boxes as normalized centre xywh. */
export interface DetectionTargets {
  /** Image of each row, 0..batch-1. */
  batchIdx: ArrayLike<number>;
  /** Class of each row, 0..nc-1 (an [N, 1] array flattened). */
  cls: ArrayLike<number>;
  /** N x 4 normalized xywh on the network input. */
  bboxes: ArrayLike<number>;
}

/** Ground truth grouped by image (rows of one image contiguous, in input order), boxes as xyxy pixels. */
export interface PreparedTargets {
  /** M x 4 xyxy in input pixels. */
  boxes: Float32Array;
  labels: Int32Array;
  /** The reference's mask_gt: coordinate sum > 0; other rows never take anchors. */
  valid: Uint8Array;
  /** Rows of image n are start[n] .. start[n + 1] - 1. */
  start: Int32Array;
}

/** Words per ground-truth row on the GPU: x1, y1, x2, y2, label (u32 bits), image (u32 bits), valid (0/1), pad. */
export const GT_WORDS = 8;

/**
 * Checks the rows and groups them by image, as the reference's `preprocess` pads them into a
 * [batch, max boxes, 5] tensor: xywh scaled by the input size [h, w] and turned into xyxy,
 * rounded to f32 at each step as PyTorch computes it.
 */
export function prepareTargets(t: DetectionTargets, batch: number, nc: number, [h, w]: readonly [number, number]): PreparedTargets {
  const n = t.batchIdx.length;
  if (t.cls.length !== n || t.bboxes.length !== 4 * n) {
    throw new UserError(`detection targets: ${n} batch indices, ${t.cls.length} classes and ${t.bboxes.length / 4} boxes; expected one class and 4 box values per row`);
  }
  const counts = new Int32Array(batch + 1);
  for (let i = 0; i < n; i++) {
    const b = t.batchIdx[i];
    if (!Number.isInteger(b) || b < 0 || b >= batch) throw new UserError(`detection targets: row ${i} has batch index ${b}, expected an integer in [0, ${batch})`);
    const c = t.cls[i];
    if (!Number.isInteger(c) || c < 0 || c >= nc) throw new UserError(`detection targets: row ${i} has class ${c}, expected an integer in [0, ${nc})`);
    for (let k = 0; k < 4; k++) {
      if (!Number.isFinite(t.bboxes[4 * i + k])) throw new UserError(`detection targets: row ${i} has a non-finite box value ${t.bboxes[4 * i + k]}`);
    }
    counts[b + 1]++;
  }
  const start = new Int32Array(batch + 1);
  for (let b = 0; b < batch; b++) start[b + 1] = start[b] + counts[b + 1];
  const next = start.slice(0, batch);
  const scaled = new Float32Array(4 * n);
  const labels = new Int32Array(n);
  const scale = [w, h, w, h];
  for (let i = 0; i < n; i++) {
    const r = next[t.batchIdx[i]]++;
    labels[r] = t.cls[i];
    for (let k = 0; k < 4; k++) scaled[4 * r + k] = Math.fround(t.bboxes[4 * i + k] * scale[k]);
  }
  const boxes = xywh2xyxy(scaled);
  const valid = new Uint8Array(n);
  for (let r = 0; r < n; r++) valid[r] = Math.fround(Math.fround(Math.fround(boxes[4 * r] + boxes[4 * r + 1]) + boxes[4 * r + 2]) + boxes[4 * r + 3]) > 0 ? 1 : 0;
  return { boxes, labels, valid, start };
}

/** The rows as one f32 tensor [max(M, 1), GT_WORDS] (integers as their bits) and the image starts as i32 [batch + 1]. */
export function uploadTargets(engine: Engine, p: PreparedTargets): { gts: Tensor; start: Tensor } {
  const m = p.labels.length;
  const words = new Uint32Array(Math.max(m, 1) * GT_WORDS);
  const asFloat = new Float32Array(words.buffer);
  for (let b = 0; b + 1 < p.start.length; b++) {
    for (let r = p.start[b]; r < p.start[b + 1]; r++) {
      asFloat.set(p.boxes.subarray(4 * r, 4 * r + 4), GT_WORDS * r);
      words[GT_WORDS * r + 4] = p.labels[r];
      words[GT_WORDS * r + 5] = b;
      asFloat[GT_WORDS * r + 6] = p.valid[r];
    }
  }
  const gts = Tensor.empty(engine, [Math.max(m, 1), GT_WORDS], 'u32', 'input');
  gts.write(words);
  const start = Tensor.fromHost(engine, p.start, [p.start.length], 'i32', 'input');
  return { gts, start };
}
