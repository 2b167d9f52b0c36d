/**
 * The GPU detection loss against the float64 reference (test/yolo/loss/reference.ts) on
 * small random cases: loss items and the gradients of the head outputs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { backward } from '../../../src/autograd/backward.js';
import type { DType } from '../../../src/gpu/dtype.js';
import type { Engine } from '../../../src/gpu/engine.js';
import { UserError } from '../../../src/errors.js';
import { detectionLoss } from '../../../src/yolo/loss/detection-loss.js';
import type { DetectionTargets } from '../../../src/yolo/loss/targets.js';
import { relL2, testEngine } from '../../helpers/gpu.js';
import { disposeHeads, headGrads, randomHeads, randomTargets } from './heads.js';
import { referenceLoss } from './reference.js';

type Grids = [number, number][];

/** Grids of the three levels (strides 8, 16, 32) of an h x w input. */
const gridsOf = (h: number, w: number): Grids => [8, 16, 32].map((s) => [h / s, w / s]);

interface Case {
  imgSize: [number, number];
  batch: number;
  nc: number;
  targets: DetectionTargets;
  dtype?: DType;
  seed: number;
  /** Predicted sides up to about this many cells (see randomHeads). */
  spread?: number;
}

/** Runs the GPU loss with backward and the reference; returns both and the worst differences. */
async function compare(engine: Engine, c: Case) {
  const grids = gridsOf(...c.imgSize);
  const heads = randomHeads(engine, c.batch, grids, c.nc, c.seed, c.dtype, c.spread);
  const { loss, items } = detectionLoss(heads.out, c.targets, { imgSize: c.imgSize, nc: c.nc });
  backward(loss);
  const gpu = { items: Array.from(await items.read()), loss: (await loss.data.read())[0], grads: await headGrads(heads.out, grids) };
  loss.dispose();
  items.dispose();
  disposeHeads(heads.out);
  const ref = referenceLoss({ ...c, grids, regMax: 16, box: heads.box, cls: heads.cls });
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
  return {
    gpu,
    ref,
    itemError: Math.max(...ref.items.map((v, i) => rel(gpu.items[i], v)), rel(gpu.loss, ref.loss)),
    boxGradError: relL2(gpu.grads.box, ref.gradBox),
    clsGradError: relL2(gpu.grads.cls, ref.gradCls),
  };
}

describe('detection loss against a float64 reference', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('mixed batch: an image without objects, degenerate and out-of-image boxes, boxes sharing anchors', async () => {
    engine = await testEngine();
    const t = randomTargets([5, 0, 4], 7, 1);
    // Image 2 also gets: a zero-width box, a box past the right edge (valid, no anchor inside),
    // a box at negative coordinates (coordinate sum <= 0: not a ground truth), and two copies
    // of one box with different classes plus a near-copy (several boxes claim the same anchors).
    const extra = [
      [0.5, 0.5, 0, 0.4],
      [1.3, 0.5, 0.2, 0.2],
      [-0.5, -0.5, 0.2, 0.2],
      [0.4, 0.45, 0.5, 0.6],
      [0.4, 0.45, 0.5, 0.6],
      [0.41, 0.46, 0.5, 0.58],
    ];
    extra.forEach((b, i) => {
      t.batchIdx.push(2);
      t.cls.push(i % 7);
      t.bboxes.push(...b);
    });
    const r = await compare(engine, { imgSize: [64, 96], batch: 3, nc: 7, targets: t, seed: 2 });
    expect(r.ref.targetSum).toBeGreaterThan(1);
    expect(r.ref.contested).toBeGreaterThan(0);
    expect(r.itemError).toBeLessThan(1e-5);
    expect(r.boxGradError).toBeLessThan(1e-5);
    expect(r.clsGradError).toBeLessThan(1e-5);
  });

  it.each([1, 80])('nc = %i', async (nc) => {
    engine = await testEngine();
    const r = await compare(engine, { imgSize: [64, 64], batch: 2, nc, targets: randomTargets([3, 6], nc, 3 + nc), seed: 4 + nc });
    expect(r.itemError).toBeLessThan(1e-5);
    expect(r.boxGradError).toBeLessThan(1e-5);
    expect(r.clsGradError).toBeLessThan(1e-5);
  });

  it('an image with 320 objects (most anchors claimed by several boxes)', async () => {
    engine = await testEngine();
    const r = await compare(engine, { imgSize: [96, 96], batch: 2, nc: 11, targets: randomTargets([320, 3], 11, 5), seed: 6 });
    expect(r.ref.contested).toBeGreaterThan(20);
    expect(r.itemError).toBeLessThan(1e-5);
    expect(r.boxGradError).toBeLessThan(1e-5);
    expect(r.clsGradError).toBeLessThan(1e-5);
  });

  it('objects smaller than the smallest stride take anchors from a region widened to the next stride', async () => {
    engine = await testEngine();
    // 3..7 px boxes centred between the 8 px grid's anchor centres: none lies strictly inside one.
    const centres = [16, 32, 48].flatMap((x) => [16, 40].map((y) => [x, y]));
    const targets = { batchIdx: centres.map(() => 0), cls: centres.map((_, i) => i % 3), bboxes: centres.flatMap(([x, y], i) => [x / 64, y / 64, (3 + (i % 5)) / 64, (7 - (i % 4)) / 64]) };
    const r = await compare(engine, { imgSize: [64, 64], batch: 1, nc: 3, targets, seed: 17, spread: 1.5 });
    // Most boxes get anchors (one whose predictions all have CIoU <= 0 stays without).
    expect(new Set(Array.from(r.ref.assigned).filter((g) => g >= 0)).size).toBeGreaterThanOrEqual(centres.length - 1);
    expect(r.itemError).toBeLessThan(1e-5);
    expect(r.boxGradError).toBeLessThan(1e-5);
    expect(r.clsGradError).toBeLessThan(1e-5);
  });

  it('f16 head outputs', async () => {
    engine = await testEngine();
    const r = await compare(engine, { imgSize: [64, 64], batch: 2, nc: 5, targets: randomTargets([4, 2], 5, 7), seed: 8, dtype: 'f16' });
    expect(r.itemError).toBeLessThan(1e-5);
    expect(r.boxGradError).toBeLessThan(1e-5);
    expect(r.clsGradError).toBeLessThan(1e-5);
  });

  it('a batch without any objects: only the class term, against all-zero targets', async () => {
    engine = await testEngine();
    const r = await compare(engine, { imgSize: [64, 64], batch: 2, nc: 3, targets: { batchIdx: [], cls: [], bboxes: [] }, seed: 9 });
    expect(r.gpu.items[0]).toBe(0);
    expect(r.gpu.items[2]).toBe(0);
    expect(r.gpu.grads.box.every((v) => v === 0)).toBe(true);
    expect(r.itemError).toBeLessThan(1e-5);
    expect(r.clsGradError).toBeLessThan(1e-5);
  });

  it('names what is wrong with its inputs', async () => {
    engine = await testEngine();
    const heads = randomHeads(engine, 2, gridsOf(64, 64), 3, 10);
    const t = randomTargets([1, 1], 3, 10);
    const run = (targets: DetectionTargets, imgSize: [number, number] = [64, 64]) => () => detectionLoss(heads.out, targets, { imgSize, nc: 3 });
    expect(run({ ...t, cls: [0, 3] })).toThrow(new UserError('detection targets: row 1 has class 3, expected an integer in [0, 3)'));
    expect(run({ ...t, batchIdx: [0, 2] })).toThrow(new UserError('detection targets: row 1 has batch index 2, expected an integer in [0, 2)'));
    expect(run({ ...t, bboxes: t.bboxes.slice(4) })).toThrow(UserError);
    expect(run(t, [64, 96])).toThrow(new UserError('detection loss: a 8x8 grid does not evenly cover the 64x96 input'));
    disposeHeads(heads.out);
  });
});
