import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { UserError } from '../../src/errors.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { ModelEMA } from '../../src/nn/ema.js';
import type { Module } from '../../src/nn/module.js';
import { LossScaler, referenceParamGroups, SGD } from '../../src/nn/optim.js';
import { defaultTrainArgs } from '../../src/train/args.js';
import { EarlyStopping } from '../../src/train/early-stopping.js';
import { readTrainCheckpoint, restoreTraining, saveTrainCheckpoint, type TrainParts, type TrainProgress } from '../../src/train/train-checkpoint.js';
import { buildModel } from '../../src/yolo/build.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/yolo/checkpoint-format.js';
import type { DetectionModel } from '../../src/yolo/detection-model.js';
import { modelFromWeights } from '../../src/yolo/weights.js';
import { randomData, testEngine } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'train-ckpt-'));
const yamlFile = join(dir, 'tiny.yaml');
writeFileSync(yamlFile, 'nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conv, [24, 3, 2]]\nhead:\n  - [[-1], 1, Detect, [nc]]\n');

let engine: Engine;
afterAll(() => {
  engine?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function run(seed: number): TrainParts<DetectionModel> {
  const model = buildModel(engine, yamlFile, { nc: 2, names: ['cat', 'dog'], seed });
  const optimizer = new SGD(engine, referenceParamGroups(model, 0.01, 5e-4, 0.937), true);
  return { model, ema: new ModelEMA(model), optimizer, scaler: new LossScaler(1024, 3) };
}

/** Gradients as a backward pass would leave them (only where `every` selects). */
function setGrads(model: Module, seed: number, every = 1): void {
  model.namedParameters().forEach(([, v], i) => {
    v.zeroGrad();
    if (!v.requiresGrad || i % every !== 0) return;
    v.grad = Tensor.fromHost(engine, randomData(v.data.size, seed + i, -0.1, 0.1), v.shape, 'f32', 'grads');
  });
}

function step(p: TrainParts, seed: number): void {
  setGrads(p.model, seed);
  p.optimizer.step({ maxNorm: 10, lossScale: p.scaler!.scale });
  p.optimizer.zeroGrad();
  p.ema.update();
  p.scaler!.update(false);
}

async function host(p: TrainParts): Promise<Record<string, unknown>> {
  const grads = await Promise.all(p.model.namedParameters().map(async ([, v]) => (v.grad ? Array.from(await v.grad.read()) : null)));
  return {
    model: await p.model.stateDict(),
    ema: await p.ema.state(),
    optimizer: await p.optimizer.state(),
    scaler: p.scaler!.state(),
    grads,
  };
}

function dispose(p: TrainParts): void {
  p.optimizer.zeroGrad();
  p.optimizer.dispose();
  p.ema.dispose();
  p.model.dispose();
}

describe('training checkpoint', () => {
  it('saves model, EMA, optimizer, scaler, pending gradients and progress; a restored run continues bit for bit', async () => {
    engine = await testEngine();
    const a = run(1);
    for (let k = 0; k < 4; k++) step(a, 10 * k);
    setGrads(a.model, 500, 2); // accumulated, not applied yet
    const stopper = new EarlyStopping(5);
    stopper.update(1, 0.2);
    stopper.update(2, 0.1);
    const progress: TrainProgress = {
      epoch: 2,
      iteration: 18,
      lastOptStep: 15,
      elapsed: 12.5,
      stopper: stopper.state(),
      loader: { epoch: 2, position: 0, seed: 3 },
      rng: { extra: new Rng(7).getState() },
    };
    const args = { ...defaultTrainArgs(), model: yamlFile, data: 'coco8.yaml', epochs: 5, seed: 3 };
    const path = join(dir, 'last.safetensors');
    const copies = [join(dir, 'best.safetensors'), join(dir, 'epoch1.safetensors')];
    await saveTrainCheckpoint(a, progress, args, path, copies);
    for (const c of copies) expect(readFileSync(c).equals(readFileSync(path))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // What val / predict / export load is the EMA (as the reference's last.pt).
    const emaState = await a.ema.state();
    expect(loadCheckpoint(path).stateDict).toEqual(emaState.stateDict);
    const forVal = modelFromWeights(engine, path);
    expect(await forVal.stateDict()).toEqual(emaState.stateDict);
    expect(forVal.names).toEqual(['cat', 'dog']);
    forVal.dispose();

    const ckpt = readTrainCheckpoint(path);
    expect(ckpt.state.args).toEqual(args);
    const b = run(2);
    step(b, 999); // a different history, overwritten by the restore
    const restored = restoreTraining(ckpt, b);
    expect(restored).toEqual(progress);
    expect(await host(b)).toEqual(await host(a));

    // Both continue identically: apply the pending gradients plus one more batch.
    for (const p of [a, b]) {
      setGrads(p.model, 600, 3);
      p.optimizer.step({ maxNorm: 10, lossScale: p.scaler!.scale });
      p.optimizer.zeroGrad();
      p.ema.update();
      step(p, 700);
    }
    expect(await host(b)).toEqual(await host(a));
    dispose(a);
    dispose(b);
  });

  it('final weights cannot be resumed; a failed copy leaves the written checkpoint whole', async () => {
    engine = await testEngine();
    const a = run(3);
    const final = join(dir, 'final.safetensors');
    await saveCheckpoint(final, a.model);
    expect(() => readTrainCheckpoint(final)).toThrow(UserError);
    expect(() => readTrainCheckpoint(final)).toThrow(`${final} holds final weights without a training state, so it cannot be resumed; start a new run from it with model=${final}`);

    const path = join(dir, 'last2.safetensors');
    const progress: TrainProgress = { epoch: 1, iteration: 4, lastOptStep: 3, elapsed: 1, stopper: new EarlyStopping(1).state(), loader: { epoch: 1, position: 0, seed: 0 }, rng: {} };
    await expect(saveTrainCheckpoint(a, progress, defaultTrainArgs(), path, [join(dir, 'missing', 'best.safetensors')])).rejects.toThrow(/cannot write/);
    expect(readTrainCheckpoint(path).state.iteration).toBe(4);
    dispose(a);
    expect(engine.stats().liveBytes).toBe(0);
  });
});
