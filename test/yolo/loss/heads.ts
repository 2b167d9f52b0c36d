/** Detection-head outputs for loss tests: per-level NHWC tensors and the same values in anchor order. */
import { Var } from '../../../src/autograd/variable.js';
import type { DType } from '../../../src/gpu/dtype.js';
import type { Engine } from '../../../src/gpu/engine.js';
import { Tensor } from '../../../src/gpu/tensor.js';
import type { DetectOutput } from '../../../src/yolo/modules/detect.js';
import { asStored, randomData, rng } from '../../helpers/gpu.js';

/** Per-level [N, H, W, C] host maps -> [N, anchors, C] with anchors level by level, row-major. */
export function toAnchorOrder(levels: readonly ArrayLike<number>[], grids: readonly (readonly [number, number])[], batch: number, channels: number): Float32Array {
  const anchors = grids.reduce((s, [h, w]) => s + h * w, 0);
  const out = new Float32Array(batch * anchors * channels);
  for (let n = 0; n < batch; n++) {
    let first = 0;
    grids.forEach(([h, w], l) => {
      const block = h * w * channels;
      for (let i = 0; i < block; i++) out[(n * anchors + first) * channels + i] = levels[l][n * block + i];
      first += h * w;
    });
  }
  return out;
}

export interface RandomHeads {
  out: DetectOutput;
  /** Anchor-ordered values as stored (f16 rounded where the tensors are f16). */
  box: Float32Array;
  cls: Float32Array;
}

/**
 * Random head outputs that decode to boxes of varied sizes: each side's DFL logits are
 * noise plus a bump at a random bin below `spread`, class logits mostly negative as in training.
 */
export function randomHeads(engine: Engine, batch: number, grids: readonly (readonly [number, number])[], nc: number, seed: number, dtype: DType = 'f32', spread = 6): RandomHeads {
  const regMax = 16;
  const r = rng(seed);
  const box: Float32Array[] = [];
  const cls: Float32Array[] = [];
  grids.forEach(([h, w], l) => {
    const sidesCount = batch * h * w * 4;
    const b = randomData(sidesCount * regMax, seed + 10 * l + 1, -2, 2);
    for (let s = 0; s < sidesCount; s++) {
      const centre = spread * r();
      for (let i = 0; i < regMax; i++) b[s * regMax + i] += 5 * Math.exp(-((i - centre) ** 2) / 2);
    }
    box.push(asStored(b, dtype));
    cls.push(asStored(randomData(batch * h * w * nc, seed + 10 * l + 2, -7, 2), dtype));
  });
  const vars = (maps: Float32Array[], c: number) => maps.map((m, l) => new Var(Tensor.fromHost(engine, m, [batch, grids[l][0], grids[l][1], c], dtype, 'activations'), true));
  return {
    out: { box: vars(box, 4 * regMax), cls: vars(cls, nc) },
    box: toAnchorOrder(box, grids, batch, 4 * regMax),
    cls: toAnchorOrder(cls, grids, batch, nc),
  };
}

/** Gradients of the head outputs in anchor order. */
export async function headGrads(out: DetectOutput, grids: readonly (readonly [number, number])[]): Promise<{ box: Float32Array; cls: Float32Array }> {
  const read = async (vs: Var[]) => Promise.all(vs.map((v) => v.grad!.read()));
  const [batch, , , boxChannels] = out.box[0].shape;
  return {
    box: toAnchorOrder(await read(out.box), grids, batch, boxChannels),
    cls: toAnchorOrder(await read(out.cls), grids, batch, out.cls[0].shape[3]),
  };
}

/** Random targets: `counts[n]` boxes in image n (normalized xywh inside the image), classes below nc. */
export function randomTargets(counts: readonly number[], nc: number, seed: number): { batchIdx: number[]; cls: number[]; bboxes: number[] } {
  const r = rng(seed);
  const t = { batchIdx: [] as number[], cls: [] as number[], bboxes: [] as number[] };
  counts.forEach((count, n) => {
    for (let i = 0; i < count; i++) {
      const [w, h] = [0.05 + 0.6 * r(), 0.05 + 0.6 * r()];
      t.batchIdx.push(n);
      t.cls.push(Math.floor(r() * nc));
      t.bboxes.push(w / 2 + (1 - w) * r(), h / 2 + (1 - h) * r(), w, h);
    }
  });
  return t;
}

export function disposeHeads(out: DetectOutput): void {
  for (const v of [...out.box, ...out.cls]) v.dispose();
}
