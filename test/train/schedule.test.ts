import { describe, expect, it } from 'vitest';
import type { ParamGroup } from '../../src/nn/optim.js';
import {
  accumulateSteps,
  chooseOptimizer,
  isStepIteration,
  lrFactor,
  scaledWeightDecay,
  TrainSchedule,
  warmupIterations,
  type ScheduleSettings,
} from '../../src/train/schedule.js';

// Expected values below are worked out by hand from the reference's formulas (ultralytics.md §3.2-3.4).

describe('training schedule', () => {
  it('accumulates to the nominal batch (Python rounding) and scales weight decay with it', () => {
    expect(accumulateSteps(64, 16)).toBe(4);
    expect(accumulateSteps(64, 13)).toBe(5); // 4.92
    expect(accumulateSteps(64, 24)).toBe(3); // 2.67
    expect(accumulateSteps(64, 128)).toBe(1); // round(0.5) = 0 -> at least 1
    expect(accumulateSteps(64, 200)).toBe(1);
    expect(scaledWeightDecay(5e-4, 16, 4, 64)).toBeCloseTo(5e-4, 15);
    expect(scaledWeightDecay(5e-4, 13, 5, 64)).toBeCloseTo(5.078125e-4, 15); // as seen in the reference's logs
    expect(scaledWeightDecay(5e-4, 24, 3, 64)).toBeCloseTo(5.625e-4, 15);
  });

  it('optimizer=auto: AdamW with the fitted lr up to 10000 iterations, SGD beyond; bias warmup from 0', () => {
    const base = { optimizer: 'auto' as const, lr0: 0.02, momentum: 0.937, warmupBiasLr: 0.1, batch: 16, nbs: 64, epochs: 100 };
    // coco128: ceil(128 / 64) * 100 = 200 iterations
    expect(chooseOptimizer({ ...base, nc: 80, datasetSize: 128 })).toEqual({ name: 'AdamW', lr: 0.000119, momentum: 0.9, warmupBiasLr: 0, iterations: 200 });
    expect(chooseOptimizer({ ...base, nc: 1, datasetSize: 128 }).lr).toBe(0.002);
    expect(chooseOptimizer({ ...base, nc: 3, datasetSize: 128 }).lr).toBe(0.001429);
    // exactly 10000 iterations still picks AdamW; one more epoch tips it to SGD
    expect(chooseOptimizer({ ...base, nc: 80, datasetSize: 6400 })).toMatchObject({ name: 'AdamW', iterations: 10000 });
    expect(chooseOptimizer({ ...base, nc: 80, datasetSize: 6400, epochs: 101 })).toEqual({ name: 'SGD', lr: 0.01, momentum: 0.9, warmupBiasLr: 0, iterations: 10100 });
    // batch above nbs divides by the batch: ceil(118287 / 128) * 11 = 925 * 11 = 10175
    expect(chooseOptimizer({ ...base, nc: 80, datasetSize: 118287, batch: 128, epochs: 11 })).toMatchObject({ name: 'SGD', iterations: 10175 });
    expect(chooseOptimizer({ ...base, optimizer: 'SGD', nc: 80, datasetSize: 128 })).toEqual({ name: 'SGD', lr: 0.02, momentum: 0.937, warmupBiasLr: 0.1 });
  });

  it('linear and cosine lr factors', () => {
    expect(lrFactor(0, 100, 0.01, false)).toBe(1);
    expect(lrFactor(50, 100, 0.01, false)).toBeCloseTo(0.505, 15);
    expect(lrFactor(99, 100, 0.01, false)).toBeCloseTo(0.0199, 15);
    expect(lrFactor(100, 100, 0.01, false)).toBeCloseTo(0.01, 15);
    expect(lrFactor(120, 100, 0.01, false)).toBeCloseTo(0.01, 15);
    expect(lrFactor(0, 100, 0.01, true)).toBe(1);
    expect(lrFactor(25, 100, 0.01, true)).toBeCloseTo(0.855017856687341, 15);
    expect(lrFactor(50, 100, 0.01, true)).toBeCloseTo(0.505, 15);
    expect(lrFactor(75, 100, 0.01, true)).toBeCloseTo(0.154982143312659, 15);
    expect(lrFactor(3, 10, 0.2, true)).toBeCloseTo(0.8351141009169892, 15);
  });

  it('warmup lasts max(round(warmup_epochs * nb), 100) iterations, none for warmup_epochs 0', () => {
    expect(warmupIterations(3, 8)).toBe(100);
    expect(warmupIterations(3, 1000)).toBe(3000);
    expect(warmupIterations(0.5, 501)).toBe(250); // 250.5 rounds to even
    expect(warmupIterations(0.5, 503)).toBe(252); // 251.5 rounds to even
    expect(warmupIterations(0, 1000)).toBe(-1);
  });

  const sgd: ScheduleSettings = {
    optimizer: { name: 'SGD', lr: 0.01, momentum: 0.937, warmupBiasLr: 0.1 },
    epochs: 10,
    lrf: 0.01,
    cosLr: false,
    warmupEpochs: 3,
    warmupMomentum: 0.8,
    momentum: 0.937,
    batchesPerEpoch: 50,
    nbs: 64,
    batch: 16,
  };

  it('SGD warmup: bias lr falls from warmup_bias_lr, the others rise from 0, momentum and accumulation ramp up', () => {
    const s = new TrainSchedule(sgd);
    expect(s.warmup).toBe(150);
    expect(s.at(0, 0)).toEqual({ lr: [0.1, 0, 0], momentum: 0.8, accumulate: 1 });
    // ni 75 of 150 in epoch 1: lf(1) = 0.9 * 0.99 + 0.01 = 0.901; accumulate round(2.5) = 2
    const mid = s.at(1, 75);
    expect(mid.lr[0]).toBeCloseTo(0.054505, 15);
    expect(mid.lr[1]).toBeCloseTo(0.004505, 15);
    expect(mid.lr[2]).toBe(mid.lr[1]);
    expect(mid.momentum).toBeCloseTo(0.8685, 15);
    expect(mid.accumulate).toBe(2);
    // ni 100 in epoch 2: lf(2) = 0.802; two thirds of the way
    const late = s.at(2, 100);
    expect(late.lr[0]).toBeCloseTo(0.03868, 15);
    expect(late.lr[1]).toBeCloseTo(0.005346666666666667, 15);
    expect(late.momentum).toBeCloseTo(0.8913333333333334, 15);
    expect(late.accumulate).toBe(3);
    // the last warmup iteration lands exactly on the targets; after it, lr0 * lf(epoch)
    expect(s.at(3, 150)).toEqual({ lr: [0.01 * 0.703, 0.01 * 0.703, 0.01 * 0.703], momentum: 0.937, accumulate: 4 });
    const after = s.at(3, 151);
    expect(after.lr.every((x) => Math.abs(x - 0.00703) < 1e-15)).toBe(true);
    expect(after).toMatchObject({ momentum: 0.937, accumulate: 4 });
    expect(s.at(9, 499).lr[1]).toBeCloseTo(0.01 * (0.1 * 0.99 + 0.01), 15);
  });

  it("AdamW's beta1 is never warmed up; auto-SGD without warmup keeps its 0.9, with warmup it ends at args.momentum", () => {
    const adam = new TrainSchedule({ ...sgd, optimizer: { name: 'AdamW', lr: 0.000119, momentum: 0.9, warmupBiasLr: 0 } });
    const m = adam.at(1, 75);
    expect(m.lr[0]).toBeCloseTo(0.000119 * 0.901 * 0.5, 18);
    expect(m.lr[1]).toBeCloseTo(0.000119 * 0.901 * 0.5, 18);
    expect(m.momentum).toBe(0.9);
    const autoSgd = { ...sgd, optimizer: { name: 'SGD' as const, lr: 0.01, momentum: 0.9, warmupBiasLr: 0 } };
    expect(new TrainSchedule(autoSgd).at(5, 300).momentum).toBe(0.937);
    const none = new TrainSchedule({ ...autoSgd, warmupEpochs: 0 });
    expect(none.warmup).toBe(-1);
    expect(none.at(0, 0)).toEqual({ lr: [0.01, 0.01, 0.01], momentum: 0.9, accumulate: 4 });
  });

  it('applies settings to the groups in order pg0, pg1, pg2 and steps every `accumulate` batches', () => {
    const groups = (['pg0', 'pg1', 'pg2'] as const).map((name): ParamGroup => ({ name, params: [], lr: 1, weightDecay: 0, momentum: 0 }));
    TrainSchedule.apply(groups, { lr: [0.3, 0.2, 0.1], momentum: 0.85, accumulate: 2 });
    expect(groups.map((g) => [g.lr, g.momentum])).toEqual([[0.3, 0.85], [0.2, 0.85], [0.1, 0.85]]);
    const steps: number[] = [];
    let last = -1;
    for (let ni = 0; ni < 12; ni++) {
      if (isStepIteration(ni, last, 4)) {
        steps.push(ni);
        last = ni;
      }
    }
    expect(steps).toEqual([3, 7, 11]);
  });
});
