/**
 * Box utilities on flat typed arrays (`n * 4` numbers, one box per 4): format conversion, pairwise IoU,
 * clipping and mapping letterboxed boxes back to the original image.
 *
 * Mirrors Ultralytics `utils/ops.py::{xywh2xyxy, xyxy2xywh, clip_boxes, scale_boxes}` and
 * `utils/metrics.py::box_iou`. Results are stored as f32 and every arithmetic step is rounded to f32
 * (`Math.fround`) the way PyTorch evaluates it on float32 tensors, so thresholds such as `IoU >= 0.5`
 * decide the same way as the reference on exact hand-made boxes.
 */

const f = Math.fround;

/** Image shape as the reference writes it: `[height, width]`. */
export type Shape2 = readonly [number, number];
/** `((gain_h, gain_w), (pad_w, pad_h))`, the reference's `ratio_pad` (only `gain_h` is used, as there). */
export type RatioPad = readonly [readonly [number, number], readonly [number, number]];

/** Centre xywh -> corner xyxy. `dst` may be `src` (in place). */
export function xywh2xyxy(src: ArrayLike<number>, dst?: Float32Array): Float32Array {
  const n = src.length >> 2;
  const out = dst ?? new Float32Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    const x = f(src[i]), y = f(src[i + 1]);
    const hw = f(src[i + 2] / 2), hh = f(src[i + 3] / 2);
    out[i] = x - hw;
    out[i + 1] = y - hh;
    out[i + 2] = x + hw;
    out[i + 3] = y + hh;
  }
  return out;
}

/** Corner xyxy -> centre xywh. `dst` may be `src` (in place). */
export function xyxy2xywh(src: ArrayLike<number>, dst?: Float32Array): Float32Array {
  const n = src.length >> 2;
  const out = dst ?? new Float32Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    const x1 = f(src[i]), y1 = f(src[i + 1]), x2 = f(src[i + 2]), y2 = f(src[i + 3]);
    out[i] = f(x1 + x2) / 2;
    out[i + 1] = f(y1 + y2) / 2;
    out[i + 2] = x2 - x1;
    out[i + 3] = y2 - y1;
  }
  return out;
}

/**
 * Pairwise IoU, `a` (N boxes xyxy) against `b` (M boxes xyxy) -> N x M row-major, as `box_iou`:
 * `inter / (area_a + area_b - inter + 1e-7)` in f32. `out` is reused when large enough.
 */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>, out?: Float32Array, eps = 1e-7): Float32Array {
  const n = a.length >> 2, m = b.length >> 2;
  const res = out && out.length >= n * m ? out : new Float32Array(n * m);
  const e = f(eps);
  const bb = b instanceof Float32Array ? b : Float32Array.from(b);
  const areaB = new Float32Array(m);
  for (let j = 0; j < m; j++) areaB[j] = f(bb[4 * j + 2] - bb[4 * j]) * f(bb[4 * j + 3] - bb[4 * j + 1]);
  for (let i = 0; i < n; i++) {
    const ax1 = f(a[4 * i]), ay1 = f(a[4 * i + 1]), ax2 = f(a[4 * i + 2]), ay2 = f(a[4 * i + 3]);
    const areaA = f(f(ax2 - ax1) * f(ay2 - ay1));
    const row = i * m;
    for (let j = 0; j < m; j++) {
      const q = 4 * j;
      const bx1 = bb[q], bx2 = bb[q + 2];
      const xx2 = ax2 < bx2 ? ax2 : bx2, xx1 = ax1 > bx1 ? ax1 : bx1;
      if (!(xx2 > xx1)) {
        res[row + j] = 0; // no overlap (inter 0)
        continue;
      }
      const by1 = bb[q + 1], by2 = bb[q + 3];
      const yy2 = ay2 < by2 ? ay2 : by2, yy1 = ay1 > by1 ? ay1 : by1;
      if (!(yy2 > yy1)) {
        res[row + j] = 0;
        continue;
      }
      const inter = f(f(xx2 - xx1) * f(yy2 - yy1));
      res[row + j] = inter / f(f(f(areaA + areaB[j]) - inter) + e);
    }
  }
  return res;
}

/** Clamp xyxy boxes to the image, in place: x in [0, w], y in [0, h]. */
export function clipBoxes(boxes: Float32Array, shape: Shape2): Float32Array {
  const h = shape[0], w = shape[1];
  for (let i = 0; i + 3 < boxes.length; i += 4) {
    boxes[i] = clamp(boxes[i], 0, w);
    boxes[i + 1] = clamp(boxes[i + 1], 0, h);
    boxes[i + 2] = clamp(boxes[i + 2], 0, w);
    boxes[i + 3] = clamp(boxes[i + 3], 0, h);
  }
  return boxes;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v; // NaN passes through, as torch.clamp
}

/** Python's `round()` (half to even). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Map boxes from the letterboxed network input (`img1Shape`, [h, w]) back to the original image
 * (`img0Shape`, [h, w]), in place, then clip: `scale_boxes`. Without `ratioPad` the gain and the
 * (rounded) padding are derived from the two shapes as the reference does.
 */
export function scaleBoxes(
  img1Shape: Shape2,
  boxes: Float32Array,
  img0Shape: Shape2,
  ratioPad?: RatioPad,
  opts: { padding?: boolean; xywh?: boolean } = {},
): Float32Array {
  const padding = opts.padding ?? true;
  let gain: number, padW: number, padH: number;
  if (!ratioPad) {
    gain = Math.min(img1Shape[0] / img0Shape[0], img1Shape[1] / img0Shape[1]);
    padW = roundHalfEven((img1Shape[1] - img0Shape[1] * gain) / 2 - 0.1);
    padH = roundHalfEven((img1Shape[0] - img0Shape[0] * gain) / 2 - 0.1);
  } else {
    gain = ratioPad[0][0];
    padW = ratioPad[1][0];
    padH = ratioPad[1][1];
  }
  const g = f(gain), pw = f(padW), ph = f(padH);
  for (let i = 0; i + 3 < boxes.length; i += 4) {
    if (padding) {
      boxes[i] -= pw;
      boxes[i + 1] -= ph;
      if (!opts.xywh) {
        boxes[i + 2] -= pw;
        boxes[i + 3] -= ph;
      }
    }
    boxes[i] /= g;
    boxes[i + 1] /= g;
    boxes[i + 2] /= g;
    boxes[i + 3] /= g;
  }
  return clipBoxes(boxes, img0Shape);
}
