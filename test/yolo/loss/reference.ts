/**
 * A float64 CPU reference of the reference trainer's v8DetectionLoss for tests: the
 * task-aligned assigner (top-k 10, alpha 0.5, beta 6, candidates strictly inside the box,
 * small boxes widened for that test, an anchor claimed by several boxes goes to the box of
 * largest CIoU), BCE over the soft targets, CIoU and DFL of the foreground anchors weighted
 * by their targets, all over max(target sum, 1). It follows the PyTorch code step by step on
 * dense per-image arrays (no chunking, no fused kernels), so it shares no structure with the
 * GPU version. Only the box preprocessing rounds to f32, as PyTorch does it in f32.
 */
import type { DetectionTargets } from '../../../src/yolo/loss/targets.js';

export interface LossCase {
  /** Network input [h, w] in pixels. */
  imgSize: readonly [number, number];
  /** Per level [h, w] of the grid (stride = input h / grid h). */
  grids: readonly (readonly [number, number])[];
  batch: number;
  nc: number;
  regMax: number;
  /** DFL logits, [batch, anchors, 4 regMax] in anchor order (level by level, row-major). */
  box: ArrayLike<number>;
  /** Class logits, [batch, anchors, nc]. */
  cls: ArrayLike<number>;
  targets: DetectionTargets;
  gains?: { box: number; cls: number; dfl: number };
}

export interface LossResult {
  /** box, cls, dfl (gains applied). */
  items: [number, number, number];
  /** (box + cls + dfl) x batch. */
  loss: number;
  /** d loss / d box logits and d loss / d class logits, same layouts as the inputs. */
  gradBox: Float64Array;
  gradCls: Float64Array;
  /** Per anchor of the batch: the assigned box (index into the image's rows) or -1, and its soft target. */
  assigned: Int32Array;
  soft: Float64Array;
  targetSum: number;
  /** Anchors that several boxes selected (resolved by overlap). */
  contested: number;
}

const TOPK = 10;
const EPS = 1e-9;
const CIOU_EPS = 1e-7;
const f32 = Math.fround;

interface Anchor {
  x: number;
  y: number;
  stride: number;
}

function anchorsOf(c: LossCase): Anchor[] {
  const anchors: Anchor[] = [];
  for (const [gh, gw] of c.grids) {
    const stride = c.imgSize[0] / gh;
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) anchors.push({ x: x + 0.5, y: y + 0.5, stride });
  }
  return anchors;
}

type Box = [number, number, number, number];

/** bbox_iou(box1, box2, xywh=False, CIoU=True), alpha optionally held at a given value. */
export function ciou(b1: Box, b2: Box, fixedAlpha?: number): { value: number; alpha: number } {
  const w1 = b1[2] - b1[0];
  const h1 = b1[3] - b1[1] + CIOU_EPS;
  const w2 = b2[2] - b2[0];
  const h2 = b2[3] - b2[1] + CIOU_EPS;
  const inter = Math.max(Math.min(b1[2], b2[2]) - Math.max(b1[0], b2[0]), 0) * Math.max(Math.min(b1[3], b2[3]) - Math.max(b1[1], b2[1]), 0);
  const union = w1 * h1 + w2 * h2 - inter + CIOU_EPS;
  const iou = inter / union;
  const cw = Math.max(b1[2], b2[2]) - Math.min(b1[0], b2[0]);
  const ch = Math.max(b1[3], b2[3]) - Math.min(b1[1], b2[1]);
  const c2 = cw * cw + ch * ch + CIOU_EPS;
  const rho2 = ((b2[0] + b2[2] - b1[0] - b1[2]) ** 2 + (b2[1] + b2[3] - b1[1] - b1[3]) ** 2) / 4;
  const v = (4 / Math.PI ** 2) * (Math.atan(w2 / h2) - Math.atan(w1 / h1)) ** 2;
  const alpha = fixedAlpha ?? v / (v - iou + (1 + CIOU_EPS));
  return { value: iou - (rho2 / c2 + v * alpha), alpha };
}

/** Softmax of each side's bins: the expected distances and the log-sum-exp of each side. */
function sides(logits: ArrayLike<number>, o: number, regMax: number): { d: number[]; lse: number[] } {
  const d: number[] = [];
  const lse: number[] = [];
  for (let s = 0; s < 4; s++) {
    const row = Array.from({ length: regMax }, (_, i) => logits[o + s * regMax + i]);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    d.push(e.reduce((a, q, i) => a + q * i, 0) / sum);
    lse.push(m + Math.log(sum));
  }
  return { d, lse };
}

/**
 * select_candidates_in_gts' region (small-target aware assignment): a side shorter than the
 * smallest stride is widened about the centre to the next stride, through xywh in f32.
 */
function candidateRegion(b: Box, strides: number[]): Box {
  const [small, widened] = [strides[0], strides[Math.min(1, strides.length - 1)]];
  const [cx, cy] = [f32(f32(b[0] + b[2]) / 2), f32(f32(b[1] + b[3]) / 2)];
  const [w, h] = [f32(b[2] - b[0]), f32(b[3] - b[1])].map((v) => (v < small ? widened : v));
  return [f32(cx - w / 2), f32(cy - h / 2), f32(cx + w / 2), f32(cy + h / 2)];
}

const decode = (d: number[], a: Anchor): Box => [a.x - d[0], a.y - d[1], a.x + d[2], a.y + d[3]];

/** torch's BCEWithLogits element. */
const bce = (x: number, t: number) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The preprocess step: each image's rows in input order, xywh x [w, h, w, h] -> xyxy, in f32. */
function groundTruth(c: LossCase): { boxes: Box[]; labels: number[]; valid: boolean[] }[] {
  const [h, w] = c.imgSize;
  const images = Array.from({ length: c.batch }, () => ({ boxes: [] as Box[], labels: [] as number[], valid: [] as boolean[] }));
  const t = c.targets;
  for (let i = 0; i < t.batchIdx.length; i++) {
    const [cx, cy, bw, bh] = [0, 1, 2, 3].map((k) => f32(t.bboxes[4 * i + k] * (k % 2 === 0 ? w : h)));
    const box: Box = [f32(cx - bw / 2), f32(cy - bh / 2), f32(cx + bw / 2), f32(cy + bh / 2)];
    const image = images[t.batchIdx[i]];
    image.boxes.push(box);
    image.labels.push(t.cls[i]);
    image.valid.push(f32(f32(f32(box[0] + box[1]) + box[2]) + box[3]) > 0);
  }
  return images;
}

export function referenceLoss(c: LossCase): LossResult {
  const { batch, nc, regMax } = c;
  const gains = c.gains ?? { box: 7.5, cls: 0.5, dfl: 1.5 };
  const anchors = anchorsOf(c);
  const strides = c.grids.map(([gh]) => c.imgSize[0] / gh);
  const na = anchors.length;
  const assigned = new Int32Array(batch * na).fill(-1);
  const soft = new Float64Array(batch * na);
  const truth = groundTruth(c);
  let contested = 0;

  truth.forEach((gt, n) => {
    const m = gt.boxes.length;
    if (m === 0) return;
    const pred = anchors.map((a, k) => decode(sides(c.box, (n * na + k) * 4 * regMax, regMax).d, a).map((v) => v * a.stride) as Box);
    // get_box_metrics over (box, anchor) pairs inside the box's candidate region (mask_in_gts x mask_gt).
    const inside = gt.boxes.map((box, g) => {
      const b = candidateRegion(box, strides);
      return anchors.map((a) => {
        const [px, py] = [a.x * a.stride, a.y * a.stride];
        return gt.valid[g] && Math.min(px - b[0], py - b[1], b[2] - px, b[3] - py) > EPS;
      });
    });
    const overlaps = gt.boxes.map((b, g) => anchors.map((_, k) => (inside[g][k] ? Math.max(ciou(b, pred[k]).value, 0) : 0)));
    const align = gt.boxes.map((_, g) =>
      anchors.map((_a, k) => (inside[g][k] ? Math.sqrt(sigmoid(c.cls[(n * na + k) * nc + gt.labels[g]])) * overlaps[g][k] ** 6 : 0)),
    );
    // Top-k anchors per box (ties to the lower anchor), kept where inside a valid box.
    const maskPos = gt.boxes.map((_, g) => {
      const order = Array.from({ length: na }, (_a, k) => k).sort((i, j) => align[g][j] - align[g][i] || i - j);
      const pos = new Array<boolean>(na).fill(false);
      for (const k of order.slice(0, TOPK)) pos[k] = inside[g][k];
      return pos;
    });
    // select_highest_overlaps: an anchor claimed more than once goes to argmax over boxes of its overlap.
    for (let k = 0; k < na; k++) {
      const claims = maskPos.filter((p) => p[k]).length;
      if (claims > 1) {
        contested++;
        let best = 0;
        for (let g = 1; g < m; g++) if (overlaps[g][k] > overlaps[best][k]) best = g;
        maskPos.forEach((p, g) => (p[k] = g === best));
      }
      const g = maskPos.findIndex((p) => p[k]);
      assigned[n * na + k] = g;
    }
    // Normalize by each box's largest alignment and overlap over its positives.
    const posAlign = maskPos.map((p, g) => Math.max(0, ...anchors.map((_, k) => (p[k] ? align[g][k] : 0))));
    const posOverlap = maskPos.map((p, g) => Math.max(0, ...anchors.map((_, k) => (p[k] ? overlaps[g][k] : 0))));
    for (let k = 0; k < na; k++) {
      const g = assigned[n * na + k];
      if (g >= 0) soft[n * na + k] = (align[g][k] * posOverlap[g]) / (posAlign[g] + EPS);
    }
  });

  const targetSum = Math.max(
    soft.reduce((s, v) => s + v, 0),
    1,
  );
  let clsSum = 0;
  const gradCls = new Float64Array(batch * na * nc);
  const scale = batch / targetSum;
  for (let r = 0; r < batch * na; r++) {
    const n = Math.floor(r / na);
    const label = assigned[r] >= 0 ? truth[n].labels[assigned[r]] : -1;
    for (let k = 0; k < nc; k++) {
      const x = c.cls[r * nc + k];
      const t = k === label ? soft[r] : 0;
      clsSum += bce(x, t);
      gradCls[r * nc + k] = gains.cls * scale * (sigmoid(x) - t);
    }
  }

  // Box terms of one foreground anchor as a function of its logits (targets fixed, CIoU's alpha fixed at its value).
  const boxTerms = (logits: ArrayLike<number>, o: number, a: Anchor, target: Box, alpha?: number) => {
    const { d, lse } = sides(logits, o, regMax);
    const iou = ciou(decode(d, a), target, alpha);
    const t = [a.x - target[0], a.y - target[1], target[2] - a.x, target[3] - a.y].map((v) => Math.min(Math.max(v, 0), f32(regMax - 1 - 0.01)));
    let dfl = 0;
    for (let s = 0; s < 4; s++) {
      const tl = Math.floor(t[s]);
      const wl = tl + 1 - t[s];
      dfl += (lse[s] - logits[o + s * regMax + tl]) * wl + (lse[s] - logits[o + s * regMax + tl + 1]) * (1 - wl);
    }
    return { iou: 1 - iou.value, dfl: dfl / 4, alpha: iou.alpha };
  };

  let iouSum = 0;
  let dflSum = 0;
  const gradBox = new Float64Array(batch * na * 4 * regMax);
  const logits = Float64Array.from(c.box);
  for (let r = 0; r < batch * na; r++) {
    const g = assigned[r];
    if (g < 0) continue;
    const a = anchors[r % na];
    const target = truth[Math.floor(r / na)].boxes[g].map((v) => v / a.stride) as Box;
    const o = r * 4 * regMax;
    const terms = boxTerms(logits, o, a, target);
    iouSum += terms.iou * soft[r];
    dflSum += terms.dfl * soft[r];
    // Central differences in float64 of this anchor's weighted terms.
    const f = () => {
      const t = boxTerms(logits, o, a, target, terms.alpha);
      return (gains.box * t.iou + gains.dfl * t.dfl) * soft[r] * scale;
    };
    const h = 1e-5;
    for (let i = 0; i < 4 * regMax; i++) {
      const saved = logits[o + i];
      logits[o + i] = saved + h;
      const up = f();
      logits[o + i] = saved - h;
      const down = f();
      logits[o + i] = saved;
      gradBox[o + i] = (up - down) / (2 * h);
    }
  }
  const items: [number, number, number] = [(iouSum / targetSum) * gains.box, (clsSum / targetSum) * gains.cls, (dflSum / targetSum) * gains.dfl];
  return { items, loss: (items[0] + items[1] + items[2]) * batch, gradBox, gradCls, assigned, soft, targetSum, contested };
}
