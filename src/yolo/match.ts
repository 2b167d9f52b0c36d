/**
 * Matching detections to ground truth at the 10 IoU thresholds 0.50:0.05:0.95, as the reference's
 * `BaseValidator.match_predictions` (default path, no scipy).
 *
 * The reference, per threshold: takes every (label, detection) pair of the same class with IoU >= threshold,
 * orders them by IoU descending, keeps the first pair of each detection (`np.unique` on the detection column,
 * which also re-orders the pairs by detection index), then the first remaining pair of each label. Because of
 * that re-ordering, a label goes to the *lowest-index* detection (detections arrive sorted by confidence) among
 * those whose best label it is, not to its highest-IoU detection. The best label of a detection does not depend
 * on the threshold (only whether it passes), so this computes each detection's best label once and then
 * runs one O(D + L) pass per threshold. Ties between labels of equal IoU for one detection go to the larger
 * label index (numpy's stable small-array argsort, reversed).
 *
 * The result is a bit mask per detection: bit t set = true positive at `thresholds[t]`.
 */

import { boxIou } from './box-ops.js';

/** `torch.linspace(start, end, steps)` in float32, as the CPU kernel evaluates it. */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const f = Math.fround;
  const s = f(start), e = f(end);
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f(f(e - s) / (steps - 1));
  const half = steps >> 1;
  for (let i = 0; i < steps; i++) out[i] = i < half ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)));
  return out;
}

/** The validator's IoU thresholds `iouv = torch.linspace(0.5, 0.95, 10)` (float32). */
export const IOU_THRESHOLDS: Float32Array = linspaceF32(0.5, 0.95, 10);

/** Is detection `d` of a match mask a true positive at threshold index `t`? */
export function isTp(mask: Uint16Array, d: number, t: number): boolean {
  return ((mask[d] >> t) & 1) === 1;
}

/**
 * `match_predictions`: `iou` is L x D row-major (labels are rows, as `box_iou(gt, pred)`); returns a
 * D-long mask (bit t = correct at `thresholds[t]`, at most 16 thresholds).
 */
export function matchPredictions(
  predCls: ArrayLike<number>,
  trueCls: ArrayLike<number>,
  iou: ArrayLike<number>,
  out?: Uint16Array,
  thresholds: ArrayLike<number> = IOU_THRESHOLDS,
): Uint16Array {
  const D = predCls.length, L = trueCls.length, T = thresholds.length;
  if (T > 16) throw new Error('matchPredictions: at most 16 IoU thresholds');
  const res = out && out.length >= D ? out : new Uint16Array(D);
  res.fill(0, 0, D);
  if (D === 0 || L === 0) return res;
  const bestL = new Int32Array(D);
  const bestV = new Float32Array(D);
  for (let d = 0; d < D; d++) {
    const pc = predCls[d];
    let bl = 0, bv = -Infinity;
    for (let l = 0; l < L; l++) {
      const v = trueCls[l] === pc ? iou[l * D + d] : 0; // iou * correct_class
      if (v >= bv) { // '>=': equal IoU -> larger label index
        bv = v;
        bl = l;
      }
    }
    bestL[d] = bl;
    bestV[d] = bv;
  }
  const taken = new Int32Array(L); // holds t + 1 when label taken at threshold t
  for (let t = 0; t < T; t++) {
    const thr = thresholds[t];
    const bit = 1 << t;
    for (let d = 0; d < D; d++) {
      if (!(bestV[d] >= thr)) continue;
      const l = bestL[d];
      if (taken[l] === t + 1) continue;
      taken[l] = t + 1;
      res[d] |= bit;
    }
  }
  return res;
}

/** Boxes in, mask out: `box_iou(gt, pred)` then {@link matchPredictions}. Boxes are xyxy, n * 4. */
export function matchDetections(
  predBoxes: ArrayLike<number>,
  predCls: ArrayLike<number>,
  gtBoxes: ArrayLike<number>,
  gtCls: ArrayLike<number>,
  out?: Uint16Array,
  thresholds: ArrayLike<number> = IOU_THRESHOLDS,
): Uint16Array {
  if (predCls.length === 0 || gtCls.length === 0) {
    const res = out && out.length >= predCls.length ? out : new Uint16Array(predCls.length);
    res.fill(0, 0, predCls.length);
    return res;
  }
  const iou = boxIou(gtBoxes, predBoxes);
  return matchPredictions(predCls, gtCls, iou, out, thresholds);
}
