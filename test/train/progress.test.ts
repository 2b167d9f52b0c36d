import { describe, expect, it } from 'vitest';
import { LossMeter, progressBar, progressHeader, progressLine, trainingDoneLine } from '../../src/train/progress.js';

describe('progress lines', () => {
  it("header and batch line in the reference's %11s / %11.4g columns, GPU_mem as %.3g GiB", () => {
    expect(progressHeader()).toBe('      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size');
    const line = progressLine({ epoch: 0, epochs: 100, memBytes: 2.4237 * 2 ** 30, losses: [1.23456, 2.5, 0.987654], instances: 123, size: 640 });
    expect(line).toBe('      1/100      2.42G      1.235        2.5     0.9877        123        640');
    expect(progressLine({ epoch: 9, epochs: 10, memBytes: 0.5 * 2 ** 20, losses: [12345.6, 0.0001234, 3], instances: 0, size: 320 })).toBe(
      '      10/10  0.000488G  1.235e+04  0.0001234          3          0        320',
    );
  });

  it("tqdm's bar suffix", () => {
    expect(progressBar(8, 8, 2.62)).toBe(': 100%|██████████| 8/8 [00:03<00:00,  3.05it/s]');
    expect(progressBar(3, 8, 6)).toBe(':  38%|███       | 3/8 [00:06<00:10,  2.00s/it]');
    expect(progressBar(1, 4000, 3700)).toMatch(/^: {3}0%\| {10}\| 1\/4000 \[1:01:40</);
  });

  it('the loss meter is the running mean of the batches, as tloss', () => {
    const m = new LossMeter();
    m.add([1, 2, 3]);
    m.add([3, 2, 1]);
    m.add([2, 5, 2]);
    expect(m.mean).toEqual([2, 3, 2]);
    expect(m.batches).toBe(3);
  });

  it('closing line', () => {
    expect(trainingDoneLine(3, 129.6)).toBe('3 epochs completed in 0.036 hours.');
  });
});
