/**
 * Detection confusion matrix, the reference's `utils/metrics.py::ConfusionMatrix` (task 'detect').
 *
 * `(nc + 1) x (nc + 1)`, row = predicted class, column = true class; the last row is "background" (a target
 * no detection matched: FN), the last column is "background" (a detection that matched no target: FP).
 * Per image: detections with conf `> conf` (0.25; the validator's default 0.001 is replaced by 0.25 as the
 * reference does); class-agnostic IoU `> iouThres` (0.45) pairs; each detection keeps its highest-IoU target,
 * then each target its highest-IoU detection among those (ties: larger index, numpy's stable small-array argsort
 * reversed). A matched pair counts at [pred class, true class] whether or not the classes agree.
 */

import { boxIou } from './box-ops.js';
import type { ClassNames, ImagePredictions, ImageTargets } from './metrics.js';

export class ConfusionMatrix {
  readonly nc: number;
  readonly names: string[];
  /** (nc + 1)^2 counts, row-major [predicted][true]. */
  readonly matrix: Float64Array;
  readonly conf: number;
  readonly iouThres: number;

  constructor(names: ClassNames | number, opts: { conf?: number; iouThres?: number } = {}) {
    if (typeof names === 'number') this.names = Array.from({ length: names }, (_, i) => String(i));
    else if (Array.isArray(names)) this.names = [...names];
    else {
      const rec = names as Readonly<Record<number, string>>;
      const keys = Object.keys(rec).map(Number);
      this.names = Array.from({ length: keys.length ? Math.max(...keys) + 1 : 0 }, (_, i) => rec[i] ?? String(i));
    }
    this.nc = this.names.length;
    this.matrix = new Float64Array((this.nc + 1) * (this.nc + 1));
    this.conf = opts.conf ?? 0.25;
    this.iouThres = opts.iouThres ?? 0.45;
  }

  /** Count at [predicted, true] (index nc = background). */
  get(pred: number, truth: number): number {
    return this.matrix[pred * (this.nc + 1) + truth];
  }

  private add(pred: number, truth: number): void {
    const n = this.nc + 1;
    if (pred < 0 || pred >= n || truth < 0 || truth >= n) return;
    this.matrix[pred * n + truth] += 1;
  }

  /**
   * One image: detections (xyxy, conf, cls) and targets (xyxy, cls) in the same space. `conf` undefined or
   * 0.001 (the validator's default) means this matrix's `conf` (0.25).
   */
  processBatch(dets: ImagePredictions, gts: ImageTargets, conf?: number, iouThres = this.iouThres): void {
    const thr = conf === undefined || conf === 0.001 ? this.conf : conf;
    const nc = this.nc;
    const L = gts.cls.length;
    const nAll = dets.cls.length;
    // conf filter
    const keep: number[] = [];
    for (let i = 0; i < nAll; i++) if (dets.conf[i] > thr) keep.push(i);
    if (L === 0) {
      if (nAll) for (const i of keep) this.add(Math.trunc(dets.cls[i]), nc); // FP
      return;
    }
    if (nAll === 0) {
      for (let l = 0; l < L; l++) this.add(nc, Math.trunc(gts.cls[l])); // background FN
      return;
    }
    const D = keep.length;
    const boxes = new Float32Array(D * 4);
    const dcls = new Int32Array(D);
    for (let k = 0; k < D; k++) {
      const i = keep[k];
      for (let t = 0; t < 4; t++) boxes[4 * k + t] = dets.boxes[4 * i + t];
      dcls[k] = Math.trunc(dets.cls[i]);
    }
    const iou = boxIou(gts.boxes, boxes); // L x D
    // each detection: best target with IoU > thr (ties -> larger target index)
    const bestL = new Int32Array(D).fill(-1);
    const bestV = new Float32Array(D);
    for (let d = 0; d < D; d++) {
      for (let l = 0; l < L; l++) {
        const v = iou[l * D + d];
        if (v > iouThres && (bestL[d] < 0 || v >= bestV[d])) {
          bestL[d] = l;
          bestV[d] = v;
        }
      }
    }
    // each target: best of the detections that chose it (ties -> larger detection index)
    const gtDet = new Int32Array(L).fill(-1);
    for (let d = 0; d < D; d++) {
      const l = bestL[d];
      if (l < 0) continue;
      if (gtDet[l] < 0 || bestV[d] >= bestV[gtDet[l]]) gtDet[l] = d;
    }
    const matched = new Uint8Array(D);
    for (let l = 0; l < L; l++) {
      const gc = Math.trunc(gts.cls[l]);
      const d = gtDet[l];
      if (d >= 0) {
        this.add(dcls[d], gc); // correct (or confused) class
        matched[d] = 1;
      } else this.add(nc, gc); // background FN
    }
    for (let d = 0; d < D; d++) if (!matched[d]) this.add(dcls[d], nc); // background FP
  }

  /** Diagonal TP and row-sum-minus-diagonal FP per class (background excluded). */
  tpFp(): { tp: Float64Array; fp: Float64Array } {
    const n = this.nc + 1;
    const tp = new Float64Array(this.nc), fp = new Float64Array(this.nc);
    for (let i = 0; i < this.nc; i++) {
      tp[i] = this.matrix[i * n + i];
      let s = 0;
      for (let j = 0; j < n; j++) s += this.matrix[i * n + j];
      fp[i] = s - tp[i];
    }
    return { tp, fp };
  }

  /** Column-normalized copy (`matrix / (matrix.sum(0) + 1e-9)`), as the normalized plot. */
  normalized(): Float64Array {
    const n = this.nc + 1;
    const out = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += this.matrix[i * n + j];
      for (let i = 0; i < n; i++) out[i * n + j] = this.matrix[i * n + j] / (s + 1e-9);
    }
    return out;
  }

  /** Zero the counts. */
  reset(): void {
    this.matrix.fill(0);
  }
}
