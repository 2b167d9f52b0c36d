import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatasetYaml } from '../../src/data/dataset-yaml.js';
import { loadDataset, type Dataset } from '../../src/data/dataset.js';
import { DataLoader, type Batch } from '../../src/data/loader.js';
import type { DetectOutput } from '../../src/yolo/modules/detect.js';
import { batchTargets, validate } from '../../src/yolo/validator.js';
import { modelFromWeights } from '../../src/yolo/weights.js';
import { testEngine } from '../helpers/gpu.js';
import { FIXTURES, SHARED } from '../helpers/shared.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'yolo-wgpu-val-cache-'));
let dataset: Dataset;

beforeAll(async () => {
  process.env.YOLO_WGPU_CACHE_DIR = cacheDir; // coco8 is read-only: its label cache goes here
  dataset = await loadDataset(loadDatasetYaml(`${SHARED}/data/coco8/coco8.yaml`), 'val', { log: null });
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

describe('batchTargets', () => {
  it('maps the letterboxed targets of rect batches back onto the labels in original pixels (within the resize rounding)', async () => {
    for (const [imgsz, batch] of [[320, 3], [640, 4]]) {
      const loader = await DataLoader.create(dataset, { imgsz, batch, rect: true, workers: 0 });
      let images = 0;
      for await (const b of loader.epoch(0)) {
        b.paths.forEach((path, k) => {
          const entry = dataset.entries.find((e) => e.imFile === path)!;
          const [h0, w0] = entry.shape;
          const t = batchTargets(b, k);
          expect(Array.from(t.cls)).toEqual(Array.from(entry.cls));
          const e = entry.bboxes;
          const expected = Array.from(entry.cls, (_, i) => [
            (e[4 * i] - e[4 * i + 2] / 2) * w0, (e[4 * i + 1] - e[4 * i + 3] / 2) * h0,
            (e[4 * i] + e[4 * i + 2] / 2) * w0, (e[4 * i + 1] + e[4 * i + 3] / 2) * h0,
          ].map((v, c) => Math.min(Math.max(v, 0), c % 2 === 0 ? w0 : h0))).flat();
          // one letterboxed pixel is 1 / gain original pixels
          const tol = 1 / b.ratioPad[k][0][0] + 1e-3;
          t.boxes.forEach((v, i) => expect(Math.abs(v - expected[i]), `${path} box value ${i}`).toBeLessThan(tol));
          images++;
        });
      }
      expect(images).toBe(4);
      await loader.close();
    }
  });
});

describe('validate', () => {
  it('runs the batches in eval mode and restores the mode; averages the loss items over batches; reports per-image speed', async () => {
    const engine = await testEngine();
    const model = modelFromWeights(engine, `${FIXTURES}/v8n320-coco128.pt`).train();
    const loader = await DataLoader.create(dataset, { imgsz: 160, batch: 3, rect: true, workers: 0 });
    const seen: { shapes: number[][]; training: boolean }[] = [];
    const lossItems = (out: DetectOutput, batch: Batch) => {
      seen.push({ shapes: [...out.box, ...out.cls].map((v) => [...v.shape]), training: model.training });
      return [batch.batchIndex + 1, 2, 3 * batch.shape[0]]; // batches of 3 and 1 images
    };
    const plotsDir = mkdtempSync(join(tmpdir(), 'yolo-wgpu-val-plots-'));
    try {
      const r = await validate(model, loader, { names: dataset.names, lossItems, plotsDir });
      expect(model.training).toBe(true);
      expect(seen.map((s) => s.training)).toEqual([false, false]);
      const [, h, w] = seen[0].shapes[0];
      expect(seen[0].shapes.map((s) => s.slice(1))).toEqual([[h, w, 64], [h / 2, w / 2, 64], [h / 4, w / 4, 64], [h, w, 80], [h / 2, w / 2, 80], [h / 4, w / 4, 80]]);
      expect(r.losses).toEqual([1.5, 2, 6]);
      expect(r.metrics.seen).toBe(4);
      expect(Array.from(r.metrics.ntPerClass).reduce((s, n) => s + n, 0)).toBe(17);
      for (const v of Object.values(r.speed)) expect(v).toBeGreaterThanOrEqual(0);
      expect(r.confusion.matrix.reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(17); // every target counted once, plus false positives
      expect(r.plots.map((p) => p.slice(plotsDir.length + 1)).sort()).toEqual([
        'BoxF1_curve.png', 'BoxPR_curve.png', 'BoxP_curve.png', 'BoxR_curve.png', 'confusion_matrix.png', 'confusion_matrix_normalized.png',
      ]);
    } finally {
      await loader.close();
      model.dispose();
      rmSync(plotsDir, { recursive: true, force: true });
    }
  });
});
