import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { runTrain } from '../../src/cli/train.js';
import { UserError } from '../../src/errors.js';
import type { EngineCounters } from '../../src/gpu/engine.js';
import { subgroupFragment } from '../../src/kernels/matmul.js';
import type { HostEntry } from '../../src/nn/module.js';
import { readResultsCsv, RESULTS_COLUMNS } from '../../src/train/results-csv.js';
import { readTrainCheckpoint } from '../../src/train/train-checkpoint.js';
import type { TrainResult } from '../../src/train/trainer.js';
import { testEngine } from '../helpers/gpu.js';
import { SHARED } from '../helpers/shared.js';

const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-train-'));
beforeAll(() => {
  process.env.YOLO_WGPU_CACHE_DIR = join(tmp, 'cache'); // coco8 is read-only: its label cache goes here
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** yolov8n from scratch on coco8's 4 training images at 64 px, 2 batches per epoch, 4 epochs, f32. */
const base = (name: string, epochs = 4) => [
  'model=yolov8n.yaml',
  `data=${SHARED}/data/coco8/coco8.yaml`,
  `epochs=${epochs}`,
  'imgsz=64',
  'batch=2',
  'workers=0',
  'amp=False',
  'seed=5',
  'save_period=2',
  `project=${join(tmp, 'runs')}`,
  `name=${name}`,
];

const lines: string[] = [];
const log = (line: string) => lines.push(line);

/** Tensors of two maps equal bit for bit. */
function expectSameTensors(a: Map<string, HostEntry>, b: Map<string, HostEntry>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, v] of a) {
    const w = b.get(k)!;
    expect(w.shape, k).toEqual(v.shape);
    expect(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).equals(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)), k).toBe(true);
  }
}

describe('yolo-wgpu train on coco8 (lavapipe)', () => {
  let full: TrainResult;
  const counters: EngineCounters[] = [];

  beforeAll(async () => {
    const engine = await testEngine();
    full = await runTrain(base('full'), { engine, log, hooks: { afterEpoch: () => (counters.push(engine.counters()), false) } });
  });

  it('writes args.yaml, results.csv with the reference columns, the plots and the weights', () => {
    const dir = full.dir;
    expect(dir).toBe(join(tmp, 'runs', 'full'));
    for (const f of ['args.yaml', 'results.csv', 'results.png', 'labels.png', 'BoxPR_curve.png', 'confusion_matrix.png', 'weights/last.safetensors', 'weights/best.safetensors']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    // save_period=2 keeps the 0-based epochs 0 and 2, as the reference names them.
    expect(readdirSync(join(dir, 'weights')).sort()).toEqual(['best.safetensors', 'epoch0.safetensors', 'epoch2.safetensors', 'last.safetensors']);
    const { columns, rows } = readResultsCsv(join(dir, 'results.csv'));
    expect(columns).toEqual([...RESULTS_COLUMNS]);
    expect(rows.map((r) => r[0])).toEqual([1, 2, 3, 4]);
    for (const r of rows) for (const v of r) expect(Number.isFinite(v)).toBe(true);
    expect(rows[1][1]).toBeGreaterThan(rows[0][1]); // time grows
    const args = YAML.parse(readFileSync(join(dir, 'args.yaml'), 'utf8')) as Record<string, unknown>;
    expect(args).toMatchObject({ model: 'yolov8n.yaml', epochs: 4, imgsz: 64, batch: 2, amp: false, optimizer: 'auto' });
    expect(full).toMatchObject({ epochsRun: 4, stoppedEarly: false, precision: 'f32', reloads: 0 });
    expect(full.final).not.toBeNull();
    expect(full.peakBytes).toBeGreaterThan(0);
  });

  it('in steady state an epoch (training, validation, checkpoint) creates no GPU buffers, pipelines or bind groups', () => {
    // Epoch 1 creates the optimizer state; bind groups of the few arena layouts that occur are all cached after epoch 3.
    const [, second, third, fourth] = counters;
    expect(fourth.dispatches).toBeGreaterThan(third.dispatches);
    expect(fourth.buffers - second.buffers).toBe(0);
    expect(fourth.pipelines - second.pipelines).toBe(0);
    expect(fourth.bindGroups - third.bindGroups).toBe(0);
  });

  it('logs the optimizer and its parameter groups as the reference, and the progress header', () => {
    expect(lines).toContainEqual(expect.stringMatching(/^optimizer: AdamW\(lr=0\.000119, momentum=0\.9\) with parameter groups 57 weight\(decay=0\.0\), 63 weight\(decay=0\.0005\), 63 bias\(decay=0\.0\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\n\s+Epoch\s+GPU_mem\s+box_loss\s+cls_loss\s+dfl_loss\s+Instances\s+Size$/));
  });

  it('a run stopped after epoch 1 and resumed from weights/last ends with the same weights, bit for bit', async () => {
    const engine = await testEngine();
    const cut = await runTrain(base('cut'), { engine, log, hooks: { afterEpoch: (e) => e === 0 } });
    expect(cut).toMatchObject({ epochsRun: 1, stoppedEarly: true });
    expect(readResultsCsv(join(cut.dir, 'results.csv')).rows).toHaveLength(1);
    const resumed = await runTrain(['--resume', cut.last], { engine, log });
    expect(resumed.dir).toBe(cut.dir);
    expect(resumed.epochsRun).toBe(4);
    const a = readTrainCheckpoint(full.last);
    const b = readTrainCheckpoint(resumed.last);
    expectSameTensors(a.checkpoint.stateDict, b.checkpoint.stateDict); // EMA weights
    expectSameTensors(a.checkpoint.trainingTensors, b.checkpoint.trainingTensors); // raw weights, optimizer state
    expect(b.state).toMatchObject({ epoch: 4, iteration: a.state.iteration, lastOptStep: a.state.lastOptStep, emaUpdates: a.state.emaUpdates });
    // The losses and metrics of every epoch match too (time differs).
    const rowsA = readResultsCsv(join(full.dir, 'results.csv')).rows.map((r) => [r[0], ...r.slice(2)]);
    const rowsB = readResultsCsv(join(resumed.dir, 'results.csv')).rows.map((r) => [r[0], ...r.slice(2)]);
    expect(rowsB).toEqual(rowsA);
  });

  it('resume refuses a finished run and changed arguments, naming what to do', async () => {
    const engine = await testEngine();
    await expect(runTrain([`resume=${full.last}`], { engine, log })).rejects.toThrow(/finished its 4 epochs; nothing to resume/);
    await expect(runTrain([`resume=${full.last}`, 'lr0=0.02'], { engine, log })).rejects.toThrow(/only imgsz, batch, device, close_mosaic, workers can be changed \(got lr0\)/);
  });

  it('bad options are UserErrors naming the option and the allowed values', async () => {
    const engine = await testEngine();
    const bad = async (argv: string[]) => {
      const e = await runTrain(argv, { engine, log }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(UserError);
      return (e as Error).message;
    };
    expect(await bad(['model=yolov8n.yaml', 'optimizer=Adam'])).toBe('optimizer=Adam is not valid: optimizer must be one of auto, SGD, AdamW');
    expect(await bad(['model=yolov8n.yaml', '--epochs', 'three'])).toBe('epochs=three is not valid: epochs must be an integer >= 1');
    expect(await bad(['model=yolov8n.yaml', 'epoch=3'])).toMatch(/unknown option 'epoch' \(did you mean 'epochs'\?\)/);
    expect(await bad(['model=yolov8n.yaml'])).toMatch(/^data= is required/);
    expect(await bad(['model=yolov8n.yaml', `data=${SHARED}/data/coco8/coco8.yaml`, 'freeze=[0, 99]', 'workers=0', `project=${join(tmp, 'runs')}`])).toMatch(/freeze=\[0,99\]: the model has layers 0\.\.22, not 99/);
    expect(await bad([`resume=${join(tmp, 'nope.safetensors')}`])).toMatch(/nope\.safetensors/);
    expect(await bad(['model=yolov8n.yaml', `data=${SHARED}/data/coco8/coco8.yaml`, `conv_variants=${join(tmp, 'tuned.json')}`])).toMatch(/tuned\.json: not a readable JSON file/);
    if (!subgroupFragment(engine)) {
      // a table naming tensor-core tiles, on a device without them: rejected before training, the engine left as it was
      const table = join(tmp, 'tuned-sg.json');
      writeFileSync(table, JSON.stringify({ 'conv2d:f16:16x320x320x16>32:k3x3:s2x2:p1x1:g1': 'sg:8x1:2x2:32' }));
      const message = await bad(['model=yolov8n.yaml', `data=${SHARED}/data/coco8/coco8.yaml`, `conv_variants=${table}`, 'workers=0', `project=${join(tmp, 'runs')}`]);
      expect(message).toMatch(/tuned-sg\.json: "conv2d:f16:16x320x320x16>32:k3x3:s2x2:p1x1:g1" -> "sg:8x1:2x2:32": conv2d: variant "sg:8x1:2x2:32" needs an f16 input on a device with f16 subgroup matrices/);
      expect(engine.convVariants).toEqual({});
    }
  });
});
