/**
 * CPU non-maximum suppression, the reference's `utils/ops.py::non_max_suppression` + `torchvision.ops.nms`.
 *
 * Input is the detector's raw output as the reference takes it: `(B, 4 + nc + extra, A)` channel-major
 * (`layout: 'channels-first'`, the default), or `(B, A, 4 + nc + extra)` rows (`layout: 'rows'`); each anchor
 * is centre-xywh followed by nc class scores (already sigmoid-ed) and optional extra channels (mask
 * coefficients), which are carried through. Output per image: `Float32Array` rows
 * `[x1, y1, x2, y2, conf, cls, ...extra]`, sorted by confidence (descending).
 *
 * Semantics, step by step as the reference:
 * 1. candidates: anchors whose best class score is `> confThres`;
 * 2. multi-label: every (anchor, class) with score `> confThres`, in anchor-major order; otherwise the best class
 *    (first index on ties);
 * 3. optional class filter;
 * 4. keep the top `maxNms` by score (stable: ties keep the earlier candidate);
 * 5. greedy NMS in score order (stable sort, as torchvision's CPU kernel), a later box being dropped when its IoU
 *    with a kept box of the same class (any class when `agnostic`) is `> iouThres`. IoU is computed in f32 on the
 *    class-offset boxes (`box + cls * maxWh`), exactly the values the reference feeds to torchvision;
 * 6. at most `maxDet` detections (the loop stops as soon as `maxDet` boxes are kept: same result, less work).
 *
 * Cost: one pass over the scores for the candidate mask, a stable radix sort of the candidates, and a
 * suppression loop that compares each candidate only with the (at most `maxDet`) boxes already kept.
 */

export interface NmsOptions {
  /** Score threshold (strict `>`). Default 0.25. */
  confThres?: number;
  /** IoU threshold (strict `>` suppresses). Default 0.45. */
  iouThres?: number;
  /** Keep only these classes. */
  classes?: readonly number[];
  /** Class-agnostic NMS. Default false. */
  agnostic?: boolean;
  /** Every class above the threshold becomes a detection. Default false (validation uses true). */
  multiLabel?: boolean;
  /** Maximum detections per image. Default 300. */
  maxDet?: number;
  /** Maximum boxes entering NMS. Default 30000. */
  maxNms?: number;
  /** Class offset of the batched-NMS trick. Default 7680. */
  maxWh?: number;
  /** Number of classes; default `channels - 4` (no extra channels). */
  nc?: number;
  /** `'channels-first'`: (B, C, A) as the detector emits it (default). `'rows'`: (B, A, C). */
  layout?: 'channels-first' | 'rows';
}

export interface NmsImageResult {
  /** `count` rows of `6 + extra` floats: x1, y1, x2, y2, conf, cls, extra... */
  dets: Float32Array;
  count: number;
  /** Anchor index (0..A-1) of every kept row. */
  indices: Int32Array;
}

/** Shape of the prediction tensor: `[batch, channels, anchors]` (`channels = 4 + nc + extra`). */
export type PredShape = readonly [number, number, number];

const f = Math.fround;

/** Non-max suppression over a batch; per image, rows `[x1, y1, x2, y2, conf, cls, ...extra]`. */
export function nonMaxSuppression(prediction: Float32Array, shape: PredShape, opts: NmsOptions = {}): Float32Array[] {
  return nonMaxSuppressionWithIndices(prediction, shape, opts).map((r) => r.dets);
}

/** As {@link nonMaxSuppression}, also returning the anchor index of every kept detection. */
export function nonMaxSuppressionWithIndices(
  prediction: Float32Array,
  shape: PredShape,
  opts: NmsOptions = {},
): NmsImageResult[] {
  const [bs, ch, na] = shape;
  if (prediction.length < bs * ch * na) throw new Error(`nms: prediction has ${prediction.length} values, shape needs ${bs * ch * na}`);
  const conf = opts.confThres ?? 0.25;
  const iou = opts.iouThres ?? 0.45;
  if (!(conf >= 0 && conf <= 1)) throw new Error(`nms: invalid confidence threshold ${conf}, valid values are between 0.0 and 1.0`);
  if (!(iou >= 0 && iou <= 1)) throw new Error(`nms: invalid IoU ${iou}, valid values are between 0.0 and 1.0`);
  const nc = opts.nc || ch - 4;
  const extra = ch - 4 - nc;
  if (nc < 1 || extra < 0) throw new Error(`nms: ${ch} channels cannot hold 4 box values and ${nc} classes`);
  const rows = opts.layout === 'rows';
  const multiLabel = (opts.multiLabel ?? false) && nc > 1;
  const maxDet = opts.maxDet ?? 300;
  const maxNms = opts.maxNms ?? 30000;
  const maxWh = opts.maxWh ?? 7680;
  const agnostic = opts.agnostic ?? false;
  const classSet = opts.classes ? new Set(opts.classes) : null;
  const rowLen = 6 + extra;

  // Scratch shared by the images of the batch.
  const best = new Float32Array(na);
  const bestCls = new Int32Array(na);
  const perAnchor = new Int32Array(multiLabel ? na + 1 : 0);
  const out: NmsImageResult[] = [];

  for (let b = 0; b < bs; b++) {
    const base = b * ch * na;
    // Element (channel c, anchor a) of this image.
    const cs = rows ? 1 : na; // channel stride
    const as = rows ? ch : 1; // anchor stride
    // 1-3. candidates (anchor, class, score) in the reference's order (anchor-major, then class)
    let nCand: number;
    let candA: Int32Array, candC: Int32Array, candS: Float32Array;
    if (!multiLabel) {
      bestClassPerAnchor(prediction, base, cs, as, nc, na, best, bestCls);
      nCand = 0;
      for (let a = 0; a < na; a++) if (best[a] > conf) nCand++;
      candA = new Int32Array(nCand);
      candC = new Int32Array(nCand);
      candS = new Float32Array(nCand);
      let k = 0;
      for (let a = 0; a < na; a++) {
        if (!(best[a] > conf)) continue;
        if (classSet && !classSet.has(bestCls[a])) continue;
        candA[k] = a;
        candC[k] = bestCls[a];
        candS[k] = best[a];
        k++;
      }
      nCand = k;
    } else {
      ({ candA, candC, candS, n: nCand } = multiLabelCandidates(prediction, base, cs, as, nc, na, conf, classSet, perAnchor));
    }
    if (nCand === 0) {
      out.push({ dets: new Float32Array(0), count: 0, indices: new Int32Array(0) });
      continue;
    }
    // 4-5. stable order by score, truncated to maxNms.
    const order = argsortDescending(candS, nCand);
    const nIn = Math.min(nCand, maxNms);
    const boxes = new Float32Array(nIn * 4); // xyxy, in candidate-sorted order
    const cls = new Int32Array(nIn);
    for (let r = 0; r < nIn; r++) {
      const k = order[r];
      const a = candA[k];
      const p = base + a * as;
      const x = f(prediction[p]), y = f(prediction[p + cs]);
      const hw = f(prediction[p + 2 * cs] / 2), hh = f(prediction[p + 3 * cs] / 2);
      boxes[4 * r] = x - hw;
      boxes[4 * r + 1] = y - hh;
      boxes[4 * r + 2] = x + hw;
      boxes[4 * r + 3] = y + hh;
      cls[r] = candC[k];
    }
    const keep = greedyNms(boxes, cls, nIn, iou, agnostic, maxWh, maxDet);
    const count = keep.length;
    const dets = new Float32Array(count * rowLen);
    const indices = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const r = keep[i];
      const k = order[r];
      const o = i * rowLen;
      dets[o] = boxes[4 * r];
      dets[o + 1] = boxes[4 * r + 1];
      dets[o + 2] = boxes[4 * r + 2];
      dets[o + 3] = boxes[4 * r + 3];
      dets[o + 4] = candS[k];
      dets[o + 5] = candC[k];
      const a = candA[k];
      for (let e = 0; e < extra; e++) dets[o + 6 + e] = prediction[base + (4 + nc + e) * cs + a * as];
      indices[i] = a;
    }
    out.push({ dets, count, indices });
  }
  return out;
}

/**
 * Every (anchor, class) with score > conf, ordered anchor-major then class (the reference's
 * `torch.where(cls > conf)` order), from two contiguous sweeps over the class channels.
 */
function multiLabelCandidates(
  pred: Float32Array,
  base: number,
  cs: number,
  as: number,
  nc: number,
  na: number,
  conf: number,
  classSet: Set<number> | null,
  start: Int32Array,
): { candA: Int32Array; candC: Int32Array; candS: Float32Array; n: number } {
  start.fill(0);
  for (let c = 0; c < nc; c++) {
    if (classSet && !classSet.has(c)) continue;
    const off = base + (4 + c) * cs;
    for (let a = 0; a < na; a++) if (pred[off + a * as] > conf) start[a + 1]++;
  }
  for (let a = 0; a < na; a++) start[a + 1] += start[a];
  const n = start[na];
  const candA = new Int32Array(n), candC = new Int32Array(n), candS = new Float32Array(n);
  for (let c = 0; c < nc; c++) {
    if (classSet && !classSet.has(c)) continue;
    const off = base + (4 + c) * cs;
    for (let a = 0; a < na; a++) {
      const s = pred[off + a * as];
      if (s > conf) {
        const k = start[a]++;
        candA[k] = a;
        candC[k] = c;
        candS[k] = s;
      }
    }
  }
  return { candA, candC, candS, n };
}

/** Max (first argmax on ties) over the nc class channels of every anchor. */
function bestClassPerAnchor(
  pred: Float32Array,
  base: number,
  cs: number,
  as: number,
  nc: number,
  na: number,
  best: Float32Array,
  bestCls: Int32Array,
): void {
  if (as === 1) {
    // channels-first: one contiguous sweep per class channel
    const o0 = base + 4 * cs;
    for (let a = 0; a < na; a++) {
      best[a] = pred[o0 + a];
      bestCls[a] = 0;
    }
    for (let c = 1; c < nc; c++) {
      const off = base + (4 + c) * cs;
      for (let a = 0; a < na; a++) {
        const s = pred[off + a];
        if (s > best[a]) {
          best[a] = s;
          bestCls[a] = c;
        }
      }
    }
    return;
  }
  for (let a = 0; a < na; a++) {
    const o = base + a * as + 4;
    let m = pred[o], mc = 0;
    for (let c = 1; c < nc; c++) {
      const s = pred[o + c];
      if (s > m) {
        m = s;
        mc = c;
      }
    }
    best[a] = m;
    bestCls[a] = mc;
  }
}

/**
 * torchvision `batched_nms` on already-decoded boxes: `boxes` xyxy (n * 4), `scores` (n), optional `classes`
 * (n; omitted = one class). Returns kept indices into the inputs, by decreasing score (ties: lower index first),
 * at most `maxDet` of them.
 */
export function nmsBoxes(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  iouThres: number,
  opts: { classes?: ArrayLike<number>; agnostic?: boolean; maxDet?: number; maxWh?: number } = {},
): Int32Array {
  const n = scores.length;
  const s32 = scores instanceof Float32Array ? scores : Float32Array.from(scores);
  const order = argsortDescending(s32, n);
  const sorted = new Float32Array(n * 4);
  const cls = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const k = order[r];
    for (let t = 0; t < 4; t++) sorted[4 * r + t] = boxes[4 * k + t];
    cls[r] = opts.classes ? opts.classes[k] : 0;
  }
  const keep = greedyNms(sorted, cls, n, iouThres, opts.agnostic ?? false, opts.maxWh ?? 7680, opts.maxDet ?? Infinity);
  const res = new Int32Array(keep.length);
  for (let i = 0; i < keep.length; i++) res[i] = order[keep[i]];
  return res;
}

/**
 * Greedy suppression over boxes already sorted by decreasing score. A box is kept when no kept box of its
 * class (any kept box when `agnostic`) overlaps it with IoU > thr; identical to torchvision's forward
 * suppression because suppressed boxes never suppress. IoU uses the class-offset coordinates in f32.
 */
function greedyNms(
  boxes: Float32Array,
  cls: Int32Array,
  n: number,
  thr: number,
  agnostic: boolean,
  maxWh: number,
  maxDet: number,
): number[] {
  const cap = Math.min(n, maxDet);
  const kx1 = new Float32Array(cap), ky1 = new Float32Array(cap), kx2 = new Float32Array(cap), ky2 = new Float32Array(cap);
  const karea = new Float32Array(cap);
  // kept boxes chained per class (newest first), so a candidate is compared with its own class only
  const kprev = new Int32Array(cap);
  const head = new Map<number, number>();
  const keep: number[] = [];
  for (let r = 0; r < n && keep.length < cap; r++) {
    const c = agnostic ? 0 : cls[r];
    const off = agnostic ? 0 : f(c * maxWh);
    const x1 = f(boxes[4 * r] + off), y1 = f(boxes[4 * r + 1] + off);
    const x2 = f(boxes[4 * r + 2] + off), y2 = f(boxes[4 * r + 3] + off);
    const area = f(f(x2 - x1) * f(y2 - y1));
    let suppressed = false;
    const first = head.get(c) ?? -1;
    for (let q = first; q >= 0; q = kprev[q]) {
      const xx1 = kx1[q] > x1 ? kx1[q] : x1;
      const xx2 = kx2[q] < x2 ? kx2[q] : x2;
      if (!(xx2 > xx1)) continue; // no overlap: IoU 0 (or NaN for degenerate pairs), never > thr
      const yy1 = ky1[q] > y1 ? ky1[q] : y1;
      const yy2 = ky2[q] < y2 ? ky2[q] : y2;
      if (!(yy2 > yy1)) continue;
      const inter = f(f(xx2 - xx1) * f(yy2 - yy1));
      if (f(inter / f(f(karea[q] + area) - inter)) > thr) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    const k = keep.length;
    kx1[k] = x1;
    ky1[k] = y1;
    kx2[k] = x2;
    ky2[k] = y2;
    karea[k] = area;
    kprev[k] = first;
    head.set(c, k);
    keep.push(r);
  }
  return keep;
}

/**
 * Stable descending argsort of the first `n` values (ties keep index order; NaN last), by an LSD radix sort
 * (3 passes of 11 bits) on the order-preserving integer image of the f32 bits: O(n), no comparator calls.
 */
export function argsortDescending(values: Float32Array, n = values.length): Uint32Array {
  const fv = values.length === n && values.byteOffset % 4 === 0 ? values : values.slice(0, n);
  const bits = new Uint32Array(fv.buffer, fv.byteOffset, n);
  let k0 = new Int32Array(n), k1 = new Int32Array(n);
  let i0 = new Uint32Array(n), i1 = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const v = fv[i];
    let b = bits[i];
    let key: number;
    if (v !== v) key = -1; // NaN last (0xffffffff)
    else {
      if (v === 0) b = 0; // -0 == +0
      // monotone map (ascending floats -> ascending uints), then flipped for descending order
      const mono = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
      key = (0xfffffffe - mono) | 0;
    }
    k0[i] = key;
    i0[i] = i;
  }
  const count = new Uint32Array(2048);
  for (let shift = 0; shift < 33; shift += 11) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(k0[i] >>> shift) & 2047]++;
    if (n === 0 || count[(k0[0] >>> shift) & 2047] === n) continue; // one bucket: no-op pass
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = k0[i];
      const pos = count[(k >>> shift) & 2047]++;
      k1[pos] = k;
      i1[pos] = i0[i];
    }
    const tk = k0;
    k0 = k1;
    k1 = tk;
    const ti = i0;
    i0 = i1;
    i1 = ti;
  }
  return i0;
}
