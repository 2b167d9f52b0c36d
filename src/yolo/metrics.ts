/**
 * Detection metrics as the reference computes them (`utils/metrics.py::ap_per_class`, `compute_ap`, `smooth`,
 * `Metric`, `DetMetrics`): per-class AP at the 10 IoU thresholds by 101-point interpolation (precision
 * envelope, `np.interp` at recall 0, 0.01, ..., 1, trapezoid rule), P and R at the confidence that maximizes
 * the box-filtered mean F1 curve (1000-point confidence grid), mAP50 / mAP75 / mAP50-95 over the classes
 * present in the ground truth, fitness = 0.1 mAP50 + 0.9 mAP50-95.
 *
 * numpy's evaluation order is kept where it decides bits: `np.interp` (rightmost bracket, exact-hit and
 * NaN rules), pairwise summation for `sum`/`mean` over contiguous axes, sequential row sums for `mean(0)`,
 * half-to-even `round`. Detections are sorted by confidence with a stable sort (numpy's quicksort is not
 * stable, so ties may order differently there).
 *
 * Storage is typed arrays end to end; a validation run appends 10 TP bits (one u16), one f32 confidence and
 * one i32 class per detection, and per-class instance / image counts for the targets.
 */

import { matchDetections, IOU_THRESHOLDS } from './match.js';
import { argsortDescending } from './nms.js';

// ---------------------------------------------------------------------------------------------------------
// numpy helpers

/** `np.linspace(0, 1, num)`: `i * (1 / (num - 1))`, last point exactly 1. */
export function linspace01(num: number): Float64Array {
  const out = new Float64Array(num);
  const step = 1 / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step;
  if (num > 1) out[num - 1] = 1;
  return out;
}

/** numpy's pairwise summation (`add.reduce` over a strided run of `n` float64 values). */
export function pairwiseSum(a: ArrayLike<number>, offset = 0, n = a.length - offset, stride = 1): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[offset + i * stride];
    return res;
  }
  if (n <= 128) {
    let r0 = a[offset], r1 = a[offset + stride], r2 = a[offset + 2 * stride], r3 = a[offset + 3 * stride];
    let r4 = a[offset + 4 * stride], r5 = a[offset + 5 * stride], r6 = a[offset + 6 * stride], r7 = a[offset + 7 * stride];
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      const o = offset + i * stride;
      r0 += a[o];
      r1 += a[o + stride];
      r2 += a[o + 2 * stride];
      r3 += a[o + 3 * stride];
      r4 += a[o + 4 * stride];
      r5 += a[o + 5 * stride];
      r6 += a[o + 6 * stride];
      r7 += a[o + 7 * stride];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[offset + i * stride];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, offset, n2, stride) + pairwiseSum(a, offset + n2 * stride, n - n2, stride);
}

/** `np.mean` of a strided run (pairwise sum / n); 0-length gives NaN as numpy. */
export function npMean(a: ArrayLike<number>, offset = 0, n = a.length - offset, stride = 1): number {
  return pairwiseSum(a, offset, n, stride) / n;
}

/** numpy `round` (half to even). */
export function npRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `np.interp(x, xp[0:n], fp[0:n], left, right)` for one query: xp non-decreasing; the bracket is the
 * rightmost j with xp[j] <= x, exact hits return fp[j], as numpy's compiled implementation.
 */
export function npInterp(x: number, xp: ArrayLike<number>, fp: ArrayLike<number>, n: number, left = fp[0], right = fp[n - 1]): number {
  if (x !== x) return x;
  if (n === 1) return x < xp[0] ? left : x > xp[0] ? right : fp[0];
  if (x > xp[n - 1]) return right;
  if (x < xp[0]) return left;
  // rightmost j with xp[j] <= x
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x >= xp[mid]) lo = mid + 1;
    else hi = mid;
  }
  const j = lo - 1;
  if (j === n - 1 || xp[j] === x) return fp[j];
  const slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  let r = slope * (x - xp[j]) + fp[j];
  if (r !== r) {
    r = slope * (x - xp[j + 1]) + fp[j + 1];
    if (r !== r && fp[j] === fp[j + 1]) r = fp[j];
  }
  return r;
}

/** `smooth(y, f)`: box filter of fraction f with edge padding (`np.convolve(..., 'valid')`). */
export function smooth(y: ArrayLike<number>, frac = 0.05): Float64Array {
  const n = y.length;
  const nf = Math.floor(npRound(n * frac * 2) / 2) + 1;
  const p = nf >> 1;
  const w = 1 / nf;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const at = (k: number) => (k < p ? y[0] : k >= p + n ? y[n - 1] : y[k - p]);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < nf; k++) s += at(i + k) * w;
    out[i] = s;
  }
  return out;
}

/** First index of the maximum; NaN wins as in numpy. */
export function argmax(a: ArrayLike<number>): number {
  let bi = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== a[i]) return i;
    if (a[i] > a[bi]) bi = i;
  }
  return bi;
}

/**
 * {@link npInterp} where fp is the recall (`cum / (nl + 1e-16)`) or precision (`cum / (k + 1)`) curve given by
 * cumulative TP counts, evaluated only at the bracketing points.
 */
function interpCum(x: number, xp: Float64Array, cum: Int32Array, n: number, nl: number, precision: boolean, left: number): number {
  const at = (k: number) => (precision ? cum[k] / (cum[k] + (k + 1 - cum[k])) : cum[k] / (nl + 1e-16));
  if (x !== x) return x;
  if (n === 1) return x < xp[0] ? left : at(0);
  if (x > xp[n - 1]) return at(n - 1);
  if (x < xp[0]) return left;
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x >= xp[mid]) lo = mid + 1;
    else hi = mid;
  }
  const j = lo - 1;
  if (j === n - 1 || xp[j] === x) return at(j);
  const f0 = at(j), f1 = at(j + 1);
  const slope = (f1 - f0) / (xp[j + 1] - xp[j]);
  let r = slope * (x - xp[j]) + f0;
  if (r !== r) {
    r = slope * (x - xp[j + 1]) + f1;
    if (r !== r && f0 === f1) r = f0;
  }
  return r;
}

const X101 = linspace01(101);
const X1000 = linspace01(1000);

/**
 * `compute_ap(recall, precision)` for the first `n` points: AP by 101-point interpolation of the precision
 * envelope, trapezoid integration. Returns the AP; `mrec` / `mpre` (length n + 2) are filled when given.
 */
export function computeAp(
  recall: ArrayLike<number>,
  precision: ArrayLike<number>,
  n = recall.length,
  scratch?: { mrec: Float64Array; mpre: Float64Array },
): number {
  const mrec = scratch && scratch.mrec.length >= n + 2 ? scratch.mrec : new Float64Array(n + 2);
  const mpre = scratch && scratch.mpre.length >= n + 2 ? scratch.mpre : new Float64Array(n + 2);
  for (let k = 0; k < n; k++) {
    mrec[k + 1] = recall[k];
    mpre[k + 1] = precision[k];
  }
  return apFromCurve(mrec, mpre, n);
}

/**
 * AP from `mrec` / `mpre` holding recall / precision at 1..n; writes the sentinels (0, 1 / 1, 0) and turns
 * `mpre` into its envelope in place.
 */
function apFromCurve(mrec: Float64Array, mpre: Float64Array, n: number): number {
  mrec[0] = 0;
  mpre[0] = 1;
  mrec[n + 1] = 1;
  mpre[n + 1] = 0;
  // envelope: running max from the right (np.maximum propagates NaN)
  for (let k = n; k >= 0; k--) {
    const a = mpre[k], b = mpre[k + 1];
    mpre[k] = a !== a || b !== b ? NaN : a > b ? a : b;
  }
  const m = n + 2;
  const terms = trapzTerms;
  let prev = npInterp(X101[0], mrec, mpre, m);
  for (let q = 0; q < 100; q++) {
    const y = npInterp(X101[q + 1], mrec, mpre, m);
    terms[q] = ((X101[q + 1] - X101[q]) * (y + prev)) / 2.0;
    prev = y;
  }
  return pairwiseSum(terms, 0, 100);
}
const trapzTerms = new Float64Array(100);

// ---------------------------------------------------------------------------------------------------------
// ap_per_class

export interface ApPerClassResult {
  /** TP / FP counts at the max-F1 confidence, per class of `classIndex`. */
  tp: Float64Array;
  fp: Float64Array;
  p: Float64Array;
  r: Float64Array;
  f1: Float64Array;
  /** AP per class and threshold, row-major (classes x nThr). */
  allAp: Float64Array;
  nThr: number;
  /** Classes present in the targets, ascending (the reference's `unique_classes`). */
  classIndex: Int32Array;
  /** 1000-point curves over confidence `px`, row-major (classes x 1000). */
  pCurve: Float64Array;
  rCurve: Float64Array;
  f1Curve: Float64Array;
  px: Float64Array;
  /** Precision envelope at recall `px` for IoU 0.5, one row per class that has predictions. */
  precValues: Float64Array;
  /** Class id of each `precValues` row. */
  precClassIndex: Int32Array;
  /** Index into `px` of the max (smoothed) mean F1. */
  bestIndex: number;
}

/**
 * `ap_per_class`: `tp` holds one bit mask per detection (bit t = TP at threshold t), `conf` and `predCls`
 * one value per detection (first `n` used); `ntPerClass[c]` is the number of targets of class c.
 */
export function apPerClass(
  tp: Uint16Array,
  conf: Float32Array,
  predCls: Int32Array,
  ntPerClass: ArrayLike<number>,
  n = conf.length,
  nThr = IOU_THRESHOLDS.length,
): ApPerClassResult {
  const eps = 1e-16;
  // unique target classes
  const present: number[] = [];
  for (let c = 0; c < ntPerClass.length; c++) if (ntPerClass[c] > 0) present.push(c);
  const nc = present.length;
  const slot = new Int32Array(ntPerClass.length).fill(-1);
  present.forEach((c, i) => (slot[c] = i));
  // Stable partition by class, then a stable confidence sort inside each class: the same order as the
  // reference's global confidence sort followed by `pred_cls == c`, with sequential, cache-friendly passes.
  const start = new Int32Array(nc + 1);
  for (let k = 0; k < n; k++) {
    const c = predCls[k];
    if (c >= 0 && c < slot.length && slot[c] >= 0) start[slot[c] + 1]++;
  }
  for (let i = 0; i < nc; i++) start[i + 1] += start[i];
  const fill = start.slice(0, nc);
  const gConf = new Float32Array(start[nc]);
  const gTp = new Uint16Array(start[nc]);
  for (let k = 0; k < n; k++) {
    const c = predCls[k];
    if (c >= 0 && c < slot.length && slot[c] >= 0) {
      const pos = fill[slot[c]]++;
      gConf[pos] = conf[k];
      gTp[pos] = tp[k];
    }
  }

  const px = X1000.slice();
  const allAp = new Float64Array(nc * nThr);
  const pCurve = new Float64Array(nc * 1000);
  const rCurve = new Float64Array(nc * 1000);
  const precRows: Float64Array[] = [];
  const precCls: number[] = [];
  let maxNp = 0;
  for (let i = 0; i < nc; i++) maxNp = Math.max(maxNp, start[i + 1] - start[i]);
  const negConf = new Float64Array(maxNp);
  const tpBits = new Uint16Array(maxNp);
  const cum = new Int32Array(maxNp);
  // Compressed PR curve: np.interp over the recall curve only ever reads the first and the last point of each
  // run of equal recall (a TP and the last FP before the next TP), and the precision envelope at those points
  // equals the full curve's (inside a run precision only falls), so only those points are computed. Same
  // values as the full arrays, bit for bit, at O(#TP) divisions instead of O(#detections).
  const cap = 2 * maxNp + 4;
  const mrec = new Float64Array(cap);
  const mpre = new Float64Array(cap);

  for (let ci = 0; ci < nc; ci++) {
    const nl = ntPerClass[present[ci]];
    const s0 = start[ci], np_ = start[ci + 1] - s0;
    if (np_ === 0 || nl === 0) continue;
    const order = argsortDescending(gConf.subarray(s0, s0 + np_), np_);
    for (let k = 0; k < np_; k++) {
      const d = s0 + order[k];
      negConf[k] = -gConf[d];
      tpBits[k] = gTp[d];
    }
    for (let j = 0; j < nThr; j++) {
      let m = 1; // mrec/mpre[0] is compute_ap's leading sentinel
      let tpc = 0, last = -1;
      for (let k = 0; k < np_; k++) {
        if (!((tpBits[k] >> j) & 1)) continue;
        if (k > 0 && last !== k - 1) {
          // last point of the previous run (k - 1 is a FP)
          mrec[m] = tpc / (nl + eps);
          mpre[m] = tpc / (tpc + (k - tpc));
          m++;
        }
        tpc++;
        mrec[m] = tpc / (nl + eps);
        mpre[m] = tpc / (tpc + (k + 1 - tpc));
        m++;
        last = k;
      }
      if (last !== np_ - 1) {
        mrec[m] = tpc / (nl + eps);
        mpre[m] = tpc / (tpc + (np_ - tpc));
        m++;
      }
      if (j === 0) {
        // P and R against confidence need the full curves: evaluate them from cumulative TP counts on demand
        let c = 0;
        for (let k = 0; k < np_; k++) cum[k] = c += tpBits[k] & 1;
        const o = ci * 1000;
        for (let q = 0; q < 1000; q++) {
          rCurve[o + q] = interpCum(-px[q], negConf, cum, np_, nl, false, 0);
          pCurve[o + q] = interpCum(-px[q], negConf, cum, np_, nl, true, 1);
        }
      }
      allAp[ci * nThr + j] = apFromCurve(mrec, mpre, m - 1);
      if (j === 0) {
        const row = new Float64Array(1000);
        for (let q = 0; q < 1000; q++) row[q] = npInterp(px[q], mrec, mpre, m + 1);
        precRows.push(row);
        precCls.push(present[ci]);
      }
    }
  }
  const precValues = new Float64Array(Math.max(1, precRows.length) * 1000);
  precRows.forEach((row, i) => precValues.set(row, i * 1000));

  const f1Curve = new Float64Array(nc * 1000);
  for (let k = 0; k < nc * 1000; k++) {
    const p = pCurve[k], r = rCurve[k];
    f1Curve[k] = (2 * p * r) / (p + r + eps);
  }
  // f1_curve.mean(0): sequential row sums, then / nc
  const meanF1 = new Float64Array(1000);
  for (let ci = 0; ci < nc; ci++) for (let q = 0; q < 1000; q++) meanF1[q] += f1Curve[ci * 1000 + q];
  for (let q = 0; q < 1000; q++) meanF1[q] /= nc;
  const bestIndex = argmax(smooth(meanF1, 0.1));

  const p = new Float64Array(nc), r = new Float64Array(nc), f1 = new Float64Array(nc);
  const tpOut = new Float64Array(nc), fpOut = new Float64Array(nc);
  for (let ci = 0; ci < nc; ci++) {
    p[ci] = pCurve[ci * 1000 + bestIndex];
    r[ci] = rCurve[ci * 1000 + bestIndex];
    f1[ci] = f1Curve[ci * 1000 + bestIndex];
    tpOut[ci] = npRound(r[ci] * ntPerClass[present[ci]]);
    fpOut[ci] = npRound(tpOut[ci] / (p[ci] + eps) - tpOut[ci]);
  }
  return {
    tp: tpOut,
    fp: fpOut,
    p,
    r,
    f1,
    allAp,
    nThr,
    classIndex: Int32Array.from(present),
    pCurve,
    rCurve,
    f1Curve,
    px,
    precValues,
    precClassIndex: Int32Array.from(precCls),
    bestIndex,
  };
}

// ---------------------------------------------------------------------------------------------------------
// DetMetrics

export type ClassNames = readonly string[] | Readonly<Record<number, string>>;

function namesToArray(names: ClassNames | undefined, minLen: number): string[] {
  if (!names) return Array.from({ length: minLen }, (_, i) => String(i));
  if (Array.isArray(names)) return [...names];
  const rec = names as Readonly<Record<number, string>>;
  const keys = Object.keys(rec).map(Number).filter((k) => Number.isInteger(k) && k >= 0);
  const len = keys.length ? Math.max(...keys) + 1 : 0;
  return Array.from({ length: len }, (_, i) => rec[i] ?? String(i));
}

/** Keys of {@link DetMetrics.resultsDict}, as the reference's `results.csv` columns. */
export const DET_METRIC_KEYS = ['metrics/precision(B)', 'metrics/recall(B)', 'metrics/mAP50(B)', 'metrics/mAP50-95(B)'] as const;

/** The reference's `DetMetrics` + `Metric` (box): results of one validation run. */
export class DetMetrics {
  /** Class names; `nc = names.length`. */
  readonly names: string[];
  readonly nc: number;
  /** Images seen. */
  readonly seen: number;
  /** Targets per class / images containing the class (length >= nc). */
  readonly ntPerClass: Int32Array;
  readonly ntPerImage: Int32Array;
  /** Raw `ap_per_class` output. */
  readonly raw: ApPerClassResult;

  constructor(raw: ApPerClassResult, names: string[], seen: number, ntPerClass: Int32Array, ntPerImage: Int32Array) {
    this.raw = raw;
    this.names = names;
    this.nc = names.length;
    this.seen = seen;
    this.ntPerClass = ntPerClass;
    this.ntPerImage = ntPerImage;
  }

  /** Classes present in the targets (rows of the per-class arrays). */
  get apClassIndex(): Int32Array { return this.raw.classIndex; }
  get p(): Float64Array { return this.raw.p; }
  get r(): Float64Array { return this.raw.r; }
  get f1(): Float64Array { return this.raw.f1; }
  /** AP per class (rows) and IoU threshold, row-major. */
  get allAp(): Float64Array { return this.raw.allAp; }
  /** AP50 per class. */
  get ap50(): Float64Array {
    const n = this.raw.classIndex.length, T = this.raw.nThr;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.raw.allAp[i * T];
    return out;
  }
  /** AP50-95 per class (`all_ap.mean(1)`). */
  get ap(): Float64Array {
    const n = this.raw.classIndex.length, T = this.raw.nThr;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = npMean(this.raw.allAp, i * T, T);
    return out;
  }
  private get nRows(): number { return this.raw.classIndex.length; }
  get mp(): number { return this.nRows ? npMean(this.raw.p) : 0; }
  get mr(): number { return this.nRows ? npMean(this.raw.r) : 0; }
  get map50(): number { return this.nRows ? npMean(this.raw.allAp, 0, this.nRows, this.raw.nThr) : 0; }
  get map75(): number { return this.nRows ? npMean(this.raw.allAp, 5, this.nRows, this.raw.nThr) : 0; }
  get map(): number { return this.nRows ? npMean(this.raw.allAp) : 0; }
  /** `[mp, mr, map50, map]`. */
  meanResults(): [number, number, number, number] { return [this.mp, this.mr, this.map50, this.map]; }
  /** Row i (class `apClassIndex[i]`): `[p, r, ap50, ap50-95]`. */
  classResult(i: number): [number, number, number, number] {
    const T = this.raw.nThr;
    return [this.raw.p[i], this.raw.r[i], this.raw.allAp[i * T], npMean(this.raw.allAp, i * T, T)];
  }
  /** mAP50-95 per class id (length nc); classes without targets get the overall mAP. */
  get maps(): Float64Array {
    const out = new Float64Array(this.nc).fill(this.map);
    const ap = this.ap;
    this.raw.classIndex.forEach((c, i) => { if (c < out.length) out[c] = ap[i]; });
    return out;
  }
  /** 0.1 mAP50 + 0.9 mAP50-95 (NaN counted as 0). */
  get fitness(): number {
    const w = [0, 0, 0.1, 0.9];
    let s = 0;
    this.meanResults().forEach((v, i) => (s += (Number.isFinite(v) ? v : 0) * w[i]));
    return s;
  }
  /** `{metrics/precision(B), metrics/recall(B), metrics/mAP50(B), metrics/mAP50-95(B), fitness}`. */
  get resultsDict(): Record<string, number> {
    const m = this.meanResults();
    const out: Record<string, number> = {};
    DET_METRIC_KEYS.forEach((k, i) => (out[k] = m[i]));
    out.fitness = this.fitness;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Accumulator

export interface ImagePredictions {
  /** xyxy, n * 4, in the same space as the ground truth (native image pixels in the validator). */
  boxes: ArrayLike<number>;
  conf: ArrayLike<number>;
  cls: ArrayLike<number>;
}

export interface ImageTargets {
  boxes: ArrayLike<number>;
  cls: ArrayLike<number>;
}

/** Collects per-detection TP bits, confidences and classes over a validation run. */
export class MetricsAccumulator {
  private tp = new Uint16Array(1024);
  private conf = new Float32Array(1024);
  private cls = new Int32Array(1024);
  private n = 0;
  private ntPerClass = new Int32Array(0);
  private ntPerImage = new Int32Array(0);
  private imgStamp = new Int32Array(0);
  private scratch = new Uint16Array(512);
  /** Images added. */
  seen = 0;

  constructor(readonly thresholds: Float32Array = IOU_THRESHOLDS) {
    if (thresholds.length > 16) throw new Error('MetricsAccumulator: at most 16 IoU thresholds');
  }

  /** Number of detections collected. */
  get numDetections(): number { return this.n; }

  /** One image: match its detections (xyxy, any order; NMS gives them by confidence) to its targets. */
  addImage(preds: ImagePredictions, gts: ImageTargets): void {
    const d = preds.cls.length;
    if (this.scratch.length < d) this.scratch = new Uint16Array(Math.max(d, this.scratch.length * 2));
    const mask = matchDetections(preds.boxes, preds.cls, gts.boxes, gts.cls, this.scratch, this.thresholds);
    this.addStats(mask, preds.conf, preds.cls, gts.cls, d);
  }

  /** Pre-matched statistics of one image (`tp` bit masks for the first `numPreds` detections). */
  addStats(tp: Uint16Array, conf: ArrayLike<number>, predCls: ArrayLike<number>, targetCls: ArrayLike<number>, numPreds = conf.length): void {
    this.seen++;
    this.reserve(this.n + numPreds);
    this.tp.set(tp.subarray(0, numPreds), this.n);
    for (let i = 0; i < numPreds; i++) {
      this.conf[this.n + i] = conf[i];
      this.cls[this.n + i] = predCls[i];
    }
    this.n += numPreds;
    let maxC = -1;
    for (let i = 0; i < targetCls.length; i++) if (targetCls[i] > maxC) maxC = targetCls[i];
    if (maxC >= this.ntPerClass.length) this.growClasses(maxC + 1);
    for (let i = 0; i < targetCls.length; i++) {
      const c = targetCls[i] | 0;
      this.ntPerClass[c]++;
      if (this.imgStamp[c] !== this.seen) {
        this.imgStamp[c] = this.seen;
        this.ntPerImage[c]++;
      }
    }
  }

  /** Compute the metrics; `names` gives nc (defaults to the classes seen). */
  compute(names?: ClassNames): DetMetrics {
    const nameArr = namesToArray(names, this.ntPerClass.length);
    const len = Math.max(nameArr.length, this.ntPerClass.length);
    const ntc = new Int32Array(len), nti = new Int32Array(len);
    ntc.set(this.ntPerClass);
    nti.set(this.ntPerImage);
    const raw = apPerClass(this.tp, this.conf, this.cls, ntc, this.n, this.thresholds.length);
    return new DetMetrics(raw, nameArr, this.seen, ntc, nti);
  }

  /** Forget everything (start of a new validation run). */
  reset(): void {
    this.n = 0;
    this.seen = 0;
    this.ntPerClass = new Int32Array(0);
    this.ntPerImage = new Int32Array(0);
    this.imgStamp = new Int32Array(0);
  }

  private reserve(cap: number): void {
    if (cap <= this.tp.length) return;
    const size = Math.max(cap, this.tp.length * 2);
    const tp = new Uint16Array(size), conf = new Float32Array(size), cls = new Int32Array(size);
    tp.set(this.tp.subarray(0, this.n));
    conf.set(this.conf.subarray(0, this.n));
    cls.set(this.cls.subarray(0, this.n));
    this.tp = tp;
    this.conf = conf;
    this.cls = cls;
  }

  private growClasses(len: number): void {
    const a = new Int32Array(len), b = new Int32Array(len), s = new Int32Array(len);
    a.set(this.ntPerClass);
    b.set(this.ntPerImage);
    s.set(this.imgStamp);
    this.ntPerClass = a;
    this.ntPerImage = b;
    this.imgStamp = s;
  }
}
