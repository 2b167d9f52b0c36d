import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrain } from '../../src/cli/train.js';
import { UserError } from '../../src/errors.js';
import { readResultsCsv } from '../../src/train/results-csv.js';
import { readTrainCheckpoint } from '../../src/train/train-checkpoint.js';
import { MAX_RELOADS, NAN_RELOAD_AFTER, type TrainHooks } from '../../src/train/trainer.js';
import { capture } from '../helpers/capture.js';
import { testEngine } from '../helpers/gpu.js';
import { SHARED } from '../helpers/shared.js';

const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-train-nan-'));
beforeAll(() => {
  process.env.YOLO_WGPU_CACHE_DIR = join(tmp, 'cache');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** coco8's 4 training images at 64 px, f32, no plots. */
const argv = (name: string, batch: number, epochs: number) => [
  'model=yolov8n.yaml',
  `data=${SHARED}/data/coco8/coco8.yaml`,
  `epochs=${epochs}`,
  'imgsz=64',
  `batch=${batch}`,
  'workers=0',
  'amp=False',
  'plots=False',
  `project=${join(tmp, 'runs')}`,
  `name=${name}`,
];

async function trainWith(name: string, batch: number, epochs: number, hooks: TrainHooks) {
  const lines: string[] = [];
  const engine = await testEngine();
  const run = await capture(() => runTrain(argv(name, batch, epochs), { engine, log: (l) => lines.push(l), hooks }));
  return { ...run, lines };
}

const allFinite = (m: Map<string, { data: Float32Array }>) => [...m.values()].every((e) => e.data.every(Number.isFinite));

describe('NaN losses', () => {
  it('one NaN batch skips its step and the run goes on, printing nan in its progress line', async () => {
    const r = await trainWith('one', 2, 1, { poison: (ni) => ni === 0 });
    expect(r.error).toBeUndefined();
    expect(r.value).toMatchObject({ epochsRun: 1, reloads: 0 });
    expect(r.err).toMatch(/^ +1\/1 +\d\.\d+G +nan +nan +nan +\d+ +64: +50%/m);
    expect(r.err).toMatch(/^ +1\/1 +\d\.\d+G( +\d+\.\d+){3} +\d+ +64: 100%/m); // the mean leaves the NaN batch out
    const ckpt = readTrainCheckpoint(r.value!.last);
    expect(allFinite(ckpt.checkpoint.stateDict) && allFinite(ckpt.checkpoint.trainingTensors)).toBe(true);
    const [row] = readResultsCsv(join(r.value!.dir, 'results.csv')).rows;
    expect(row.slice(2, 5).every(Number.isFinite)).toBe(true);
  });

  it(`${NAN_RELOAD_AFTER} NaN batches in a row reload the last checkpoint, and training continues from it`, async () => {
    let poisoned = 0;
    const r = await trainWith('reload', 2, 2, { poison: (ni) => ni >= 1 && poisoned++ < NAN_RELOAD_AFTER });
    expect(r.error).toBeUndefined();
    expect(r.value).toMatchObject({ epochsRun: 2, reloads: 1 });
    expect(r.lines).toContainEqual(expect.stringMatching(/the loss was NaN or inf for 3 batches in a row; reloaded the last good checkpoint .*last\.safetensors \(after epoch 1\), reload 1\/3/));
    const rows = readResultsCsv(join(r.value!.dir, 'results.csv')).rows;
    expect(rows.map((row) => row[0])).toEqual([1, 2]);
    expect(allFinite(readTrainCheckpoint(r.value!.last).checkpoint.trainingTensors)).toBe(true);
  });

  it(`gives up with a clear message after ${MAX_RELOADS} reloads, and before any checkpoint exists`, async () => {
    const always = await trainWith('always', 2, 2, { poison: (ni) => ni >= 1 });
    expect(always.error).toBeInstanceOf(UserError);
    expect((always.error as Error).message).toMatch(/the loss kept turning NaN or inf after 3 reloads of .*last\.safetensors: lower lr0, check the labels, or train with precision=f32/);
    const early = await trainWith('early', 1, 1, { poison: () => true });
    expect(early.error).toBeInstanceOf(UserError);
    expect((early.error as Error).message).toMatch(/NaN or inf for \d+ batches in a row before any checkpoint was saved/);
  });
});
