import { describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/backward.js';
import { Var } from '../../src/autograd/variable.js';
import { tidy } from '../../src/gpu/scope.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { MIN_ROWS, padTargets } from '../../src/train/pad-targets.js';
import { detectionLoss } from '../../src/yolo/loss/detection-loss.js';
import type { DetectionTargets } from '../../src/yolo/loss/targets.js';
import { rng, testEngine } from '../helpers/gpu.js';

/** Three images: 3 boxes, none, 11 boxes (rows not grouped by image, as a loader may give them). */
function targets(): DetectionTargets {
  const r = rng(7);
  const batchIdx = [0, 2, 2, 0, 2, 2, 2, 2, 2, 2, 2, 0, 2, 2];
  const bboxes = batchIdx.flatMap(() => [0.2 + 0.6 * r(), 0.2 + 0.6 * r(), 0.05 + 0.3 * r(), 0.05 + 0.3 * r()]);
  return { batchIdx: Float32Array.from(batchIdx), cls: Float32Array.from(batchIdx, (_, i) => i % 3), bboxes: Float32Array.from(bboxes) };
}

describe('padTargets', () => {
  it('gives every image the same power-of-two row count, padding with zero boxes after the real rows', () => {
    const t = targets();
    const p = padTargets(t, 3);
    expect(p.batchIdx.length).toBe(3 * 16); // 11 boxes in image 2 -> 16 rows each
    expect(Array.from(p.batchIdx.slice(0, 14))).toEqual(Array.from(t.batchIdx));
    expect(Array.from(p.bboxes.slice(0, 56))).toEqual(Array.from(t.bboxes));
    const counts = [0, 1, 2].map((b) => Array.from(p.batchIdx).filter((v) => v === b).length);
    expect(counts).toEqual([16, 16, 16]);
    expect(Array.from(p.bboxes.slice(56)).every((v) => v === 0)).toBe(true);
    expect(padTargets({ batchIdx: [], cls: [], bboxes: [] }, 2).batchIdx.length).toBe(2 * MIN_ROWS);
  });

  it('changes neither the loss nor its gradients (bit for bit): padding rows are absent boxes to the loss', async () => {
    const engine = await testEngine();
    const r = rng(3);
    const nc = 3;
    const sizes = [8, 4, 2]; // a 64 x 64 input, strides 8, 16, 32
    const random = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => 2 * r() - 1);
    const shapes = sizes.flatMap((s) => [[3, s, s, 64], [3, s, s, nc]]);
    const data = shapes.map(random);
    const run = async (t: DetectionTargets) => {
      const inputs = shapes.map((shape, i) => new Var(Tensor.fromHost(engine, data[i], shape, 'f32', 'params'), true));
      const out = { box: inputs.filter((_, i) => i % 2 === 0), cls: inputs.filter((_, i) => i % 2 === 1) };
      const items = tidy(() => {
        const { loss, items } = detectionLoss(out, t, { imgSize: [64, 64], nc });
        const kept = items.reshape([3]);
        backward(loss);
        return kept;
      });
      const values = [Array.from(await items.read()), ...(await Promise.all(inputs.map(async (v) => Array.from(await v.grad!.read()))))];
      items.dispose();
      inputs.forEach((v) => v.dispose());
      return values;
    };
    const plain = await run(targets());
    const padded = await run(padTargets(targets(), 3));
    expect(plain[0].every(Number.isFinite)).toBe(true);
    expect(plain[0][0]).toBeGreaterThan(0);
    expect(padded).toEqual(plain);
  });
});
