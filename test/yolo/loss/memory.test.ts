/**
 * The detection loss's memory: chunking the assigner changes no bit, its workspace is bounded
 * whatever the batch, nothing outlives the step, and it runs without gradients (validation).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { backward } from '../../../src/autograd/backward.js';
import { noGrad } from '../../../src/autograd/tape.js';
import { Var } from '../../../src/autograd/variable.js';
import { Engine } from '../../../src/gpu/engine.js';
import { Tensor } from '../../../src/gpu/tensor.js';
import { detectionLoss, type DetectionLossOptions } from '../../../src/yolo/loss/detection-loss.js';
import type { DetectOutput } from '../../../src/yolo/modules/detect.js';
import { testEngine } from '../../helpers/gpu.js';
import { disposeHeads, headGrads, randomHeads, randomTargets } from './heads.js';

const MiB = 2 ** 20;
const gridsOf = (h: number, w: number): [number, number][] => [8, 16, 32].map((s) => [h / s, w / s]);

/** Loss and backward on `out`; the workspace peak of the step and the live bytes after it (results freed). */
function step(engine: Engine, out: DetectOutput, targets: ReturnType<typeof randomTargets>, o: DetectionLossOptions) {
  engine.arena.resetPeak();
  const { loss, items } = detectionLoss(out, targets, o);
  backward(loss);
  return { loss, items, peak: engine.stats().peak.workspace };
}

describe('detection loss memory', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('one image per chunk gives the same bits as the whole batch at once', async () => {
    engine = await testEngine();
    const grids = gridsOf(64, 96);
    const targets = randomTargets([6, 0, 9], 5, 11);
    const run = async (imagesPerChunk: number) => {
      const heads = randomHeads(engine, 3, grids, 5, 12);
      const { loss, items } = step(engine, heads.out, targets, { imgSize: [64, 96], nc: 5, imagesPerChunk });
      const result = { items: await items.read(), loss: await loss.data.read(), grads: await headGrads(heads.out, grids) };
      loss.dispose();
      items.dispose();
      disposeHeads(heads.out);
      return result;
    };
    const whole = await run(3);
    const chunked = await run(1);
    expect(chunked).toEqual(whole);
    expect(whole.grads.box.some((v) => v !== 0)).toBe(true);
  });

  it('frees everything it saved once backward ran; under noGrad it records nothing and gives the same items', async () => {
    engine = await testEngine();
    const grids = gridsOf(64, 64);
    const targets = randomTargets([4, 3], 3, 13);
    const heads = randomHeads(engine, 2, grids, 3, 14);
    const before = engine.stats().live;
    const trained = step(engine, heads.out, targets, { imgSize: [64, 64], nc: 3 });
    const items = await trained.items.read();
    trained.loss.dispose();
    trained.items.dispose();
    for (const v of [...heads.out.box, ...heads.out.cls]) v.zeroGrad();
    const after = engine.stats().live;
    expect([after.activations, after.workspace, after.input]).toEqual([before.activations, before.workspace, before.input]);

    const validation = noGrad(() => detectionLoss(heads.out, targets, { imgSize: [64, 64], nc: 3 }));
    expect(validation.loss.requiresGrad).toBe(false);
    expect(validation.loss.node).toBeNull();
    expect(await validation.items.read()).toEqual(items);
    validation.loss.dispose();
    validation.items.dispose();
    const end = engine.stats().live;
    expect([end.activations, end.workspace, end.input]).toEqual([before.activations, before.workspace, before.input]);
    disposeHeads(heads.out);
  });

  it('300 objects per image: the planned workspace equals the measured one; at 640 a batch of 64 plans under 64 MiB', async () => {
    engine = await testEngine();
    const nc = 80;
    /** Workspace peak of a loss step on `e` (random heads on a device, empty ones in meta mode). */
    const peakOf = (e: Engine, batch: number, imgSize: [number, number], imagesPerChunk?: number) => {
      const grids = gridsOf(...imgSize);
      const targets = randomTargets(new Array<number>(batch).fill(300), nc, 15);
      const heads = e.isMeta
        ? {
            box: grids.map(([h, w]) => new Var(Tensor.empty(e, [batch, h, w, 64], 'f32', 'activations'), true)),
            cls: grids.map(([h, w]) => new Var(Tensor.empty(e, [batch, h, w, nc], 'f32', 'activations'), true)),
          }
        : randomHeads(e, batch, grids, nc, 16).out;
      const r = step(e, heads, targets, { imgSize, nc, imagesPerChunk });
      r.loss.dispose();
      r.items.dispose();
      disposeHeads(heads);
      return r.peak;
    };
    const measured = peakOf(engine, 64, [64, 64], 5);
    await engine.sync();
    expect(peakOf(Engine.meta(engine.metaDevice()), 64, [64, 64], 5)).toBe(measured);

    const planned = (batch: number) => peakOf(Engine.meta(engine.metaDevice()), batch, [640, 640]);
    const [small, large] = [planned(8), planned(64)];
    console.error(`detection loss workspace at 640, nc 80, 300 objects per image: batch 8 ${(small / MiB).toFixed(1)} MiB, batch 64 ${(large / MiB).toFixed(1)} MiB`);
    expect(large).toBeLessThan(64 * MiB);
    // Bounded: the batch adds only its per-image sums and the extra boxes of a chunk.
    expect(large).toBeLessThan(small * 1.05);
  });
});
