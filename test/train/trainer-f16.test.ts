import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrain } from '../../src/cli/train.js';
import { readTrainCheckpoint } from '../../src/train/train-checkpoint.js';
import { testEngine } from '../helpers/gpu.js';
import { SHARED } from '../helpers/shared.js';

const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-train-f16-'));
beforeAll(() => {
  process.env.YOLO_WGPU_CACHE_DIR = join(tmp, 'cache');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const argv = (name: string) => [
  'model=yolov8n.yaml',
  `data=${SHARED}/data/coco8/coco8.yaml`,
  'epochs=2',
  'imgsz=64',
  'batch=2',
  'workers=0',
  'precision=f16',
  'plots=False',
  'seed=2',
  `project=${join(tmp, 'runs')}`,
  `name=${name}`,
];

describe('f16 training (loss scaling) on coco8', () => {
  it('trains with f16 activations, and a resumed run (scaler state included) ends with the same weights bit for bit', async (ctx) => {
    const engine = await testEngine();
    if (!engine.features.shaderF16) ctx.skip();
    const log = () => {};
    const full = await runTrain(argv('full'), { engine, log });
    expect(full).toMatchObject({ precision: 'f16', epochsRun: 2, reloads: 0 });
    const cut = await runTrain(argv('cut'), { engine, log, hooks: { afterEpoch: (e) => e === 0 } });
    const resumed = await runTrain([`resume=${cut.last}`], { engine, log });
    const a = readTrainCheckpoint(full.last);
    const b = readTrainCheckpoint(resumed.last);
    expect(b.state.scaler).toEqual(a.state.scaler);
    expect(a.state.scaler!.scale).toBeGreaterThan(0);
    for (const [name, t] of a.checkpoint.trainingTensors) {
      expect(t.data.every(Number.isFinite), name).toBe(true);
      expect(Array.from(b.checkpoint.trainingTensors.get(name)!.data), name).toEqual(Array.from(t.data));
    }
  });
});
