import { tidy } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { contiguous } from '../kernels/copy.js';
import { elementwise, unary } from '../kernels/elementwise.js';
import { matmul } from '../kernels/matmul.js';
import { softmax } from '../kernels/softmax.js';
import type { DetectOutput } from './modules/detect.js';

/** Grid-cell centres (x + 0.5, y + 0.5) of an h x w level, row-major, in cells: [h w, 2]. */
export function anchorPoints(h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.set([x + 0.5, y + 0.5], (y * w + x) * 2);
  return out;
}

/**
 * Inference decode of the head's raw maps, on the GPU: [N, A, 4 + nc] f32 with anchors in
 * level order (row-major within a level). Per anchor: the box as (cx, cy, w, h) in input
 * pixels (DFL: softmax over each side's bins, expectation, then dist2bbox around the cell
 * centre, times the stride) followed by the nc sigmoid class scores.
 */
export function decode(out: DetectOutput, strides: readonly number[]): Tensor {
  const engine = out.box[0].data.engine;
  const n = out.box[0].shape[0];
  const regMax = out.box[0].shape[3] / 4;
  const nc = out.cls[0].shape[3];
  const total = out.box.reduce((s, b) => s + b.shape[1] * b.shape[2], 0);
  const result = Tensor.empty(engine, [n, total, 4 + nc], 'f32', 'activations');
  let start = 0;
  tidy(() => {
    const bins = Tensor.fromHost(engine, Float32Array.from({ length: regMax }, (_, i) => i), [regMax, 1], 'f32', 'workspace');
    out.box.forEach((box, level) => {
      const [, h, w] = box.shape;
      const rows = result.slice(1, start, (start += h * w));
      const logits = contiguous(box.data, 'workspace').reshape([n * h * w * 4, regMax]);
      const probs = softmax(logits, 1, { dtype: 'f32', category: 'workspace' });
      // Expected distance (in cells) of the left, top, right, bottom sides: [N, HW, 4].
      const dist = matmul(probs, bins, { category: 'workspace' }).reshape([n, h * w, 4]);
      const [lt, rb] = [dist.slice(2, 0, 2), dist.slice(2, 2, 4)];
      const centres = Tensor.fromHost(engine, anchorPoints(h, w), [h * w, 2], 'f32', 'workspace');
      const s = strides[level];
      elementwise('(x2 + 0.5 * (x1 - x0)) * x3', [lt, rb, centres, s], { out: rows.slice(2, 0, 2) });
      elementwise('(x0 + x1) * x2', [lt, rb, s], { out: rows.slice(2, 2, 4) });
      const scores = contiguous(out.cls[level].data, 'workspace').reshape([n, h * w, nc]);
      unary('sigmoid', scores, { out: rows.slice(2, 4, 4 + nc) });
    });
  });
  return result;
}
