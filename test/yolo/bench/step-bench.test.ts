import { describe, expect, it } from 'vitest';
import { reshape } from '../../../src/autograd/view-ops.js';
import type { Var } from '../../../src/autograd/variable.js';
import type { HostTensor } from '../../../src/kernels/host-tensor.js';
import { benchStep, surrogateLoss, type StepBenchResult } from '../../../src/yolo/bench/step-bench.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { testEngine } from '../../helpers/gpu.js';

describe('surrogateLoss', () => {
  it('is the sum of the mean squares of the 6 head outputs, with its gradient (odd shapes)', async () => {
    const engine = await testEngine();
    const shapes = [[1, 3, 5, 4], [1, 2, 3, 4], [1, 1, 2, 4], [1, 3, 5, 3], [1, 2, 3, 3], [1, 1, 2, 3]];
    // surrogateLoss releases the maps it consumes: hand it views so the checked inputs survive
    const op = (...xs: Var[]) => {
      const v = xs.map((x) => reshape(x, x.shape));
      return surrogateLoss({ box: v.slice(0, 3), cls: v.slice(3) });
    };
    const reference = (...xs: HostTensor[]): HostTensor => ({
      shape: [1, 1, 1, 1],
      data: Float64Array.of(xs.reduce((s, x) => s + x.data.reduce((a, v) => a + v * v, 0) / x.data.length, 0)),
    });
    await gradcheck(engine, op, reference, shapes, 11);
  });
});

describe('benchStep', () => {
  const run = async (checkpoint: 'none' | 'all'): Promise<StepBenchResult> =>
    benchStep(await testEngine(), { model: 'yolov8n.yaml', batch: 2, imgsz: 64, precision: 'f32', checkpoint, steps: 2, warmup: 1, top: 5 });

  it('trains yolov8n on random images: time, peak bytes by category, the kernel profile; checkpointing gives the same losses with fewer activations', async () => {
    const plain = await run('none');
    expect(plain.params).toBe(3_157_200);
    expect(plain.stepMs).toHaveLength(2);
    expect(plain.msPerStep).toBeGreaterThan(0);
    expect(plain.imagesPerSec).toBeCloseTo((2 * 1000) / plain.msPerStep, 6);
    expect(Number.isFinite(plain.loss)).toBe(true);
    // parameters, their gradients and one momentum buffer each: 4 bytes per parameter (16 frozen DFL weights have neither)
    expect(plain.peak.params).toBeGreaterThanOrEqual(4 * 3_157_200);
    expect(plain.peak.grads).toBeGreaterThanOrEqual(4 * (3_157_200 - 16));
    expect(plain.peak.optimizer).toBeGreaterThanOrEqual(4 * (3_157_200 - 16));
    expect(plain.peak.activations).toBeGreaterThan(0);
    const sum = Object.values(plain.atPeak).reduce((s, b) => s + b, 0);
    expect(sum).toBe(plain.peakBytes);
    const p = plain.profile!;
    expect(p.kernels).toHaveLength(6); // top 5 and the rest
    expect(p.kernels.reduce((s, k) => s + k.share, 0)).toBeCloseTo(1, 9);
    expect(p.kernels.reduce((s, k) => s + k.dispatches, 0)).toBe(p.dispatches);
    expect(p.kernels.map((k) => k.name)).toContain('conv2d');
    // every convolution's dispatches are timed under its shape key, forward and both gradients
    const tags = p.operations.map((o) => o.tag);
    expect(tags).toContain('conv2d:f32:2x64x64x3>16:k3x3:s2x2:p1x1:g1');
    expect(tags).toContain('conv2dWeightGrad:f32:2x64x64x3>16:k3x3:s2x2:p1x1:g1');
    expect(tags).not.toContain('conv2dInputGrad:f32:2x64x64x3>16:k3x3:s2x2:p1x1:g1'); // the image needs no gradient
    expect(tags).toContain('conv2dInputGrad:f32:2x32x32x16>32:k3x3:s2x2:p1x1:g1');
    for (const t of tags) expect(t).toMatch(/^conv2d(InputGrad|WeightGrad)?:f32:/);
    const convDispatches = p.kernels.filter((k) => k.name.startsWith('conv2d')).reduce((s, k) => s + k.dispatches, 0);
    expect(p.operations.reduce((s, o) => s + o.dispatches, 0)).toBeGreaterThanOrEqual(convDispatches);
    expect(p.operations.reduce((s, o) => s + o.ms, 0)).toBeLessThanOrEqual(p.totalMs);

    const recomputed = await run('all');
    expect(recomputed.loss).toBe(plain.loss); // same init, data and kernels: bit-identical training
    expect(recomputed.peak.activations).toBeLessThan(plain.peak.activations);
  });
});
