import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { figureToSvg, type LinePanel } from '../../src/io/plot.js';
import { ResultsCsv } from '../../src/train/results-csv.js';
import { gaussianFilter1d, plotResults, resultsFigure } from '../../src/train/results-plot.js';
import { expectClose } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'results-plot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('results.png', () => {
  it('smooths as scipy.ndimage.gaussian_filter1d(y, 3) (values from scipy 1.17), short series included', () => {
    const y = [1, 4, 2, 8, 5, 7, 3, 9, 6, 0, 2.5];
    expectClose(gaussianFilter1d(y, 3), [
      3.669039304704419, 3.8491712998863905, 4.154026163680843, 4.491273737395479, 4.7616100559323975, 4.887722829572351,
      4.835835622876903, 4.625060087556145, 4.325378290829089, 4.037898467477923, 3.86298414008806,
    ], 1e-13);
    expectClose(gaussianFilter1d([3, 1, 2], 3), [2.003598611799024, 1.9999872835413628, 1.9964141046596136], 1e-13);
    expectClose(gaussianFilter1d([5], 3), [5], 0);
  });

  it('2 x 5 panels in the reference order, results and smooth series, 2400 x 1200 pixels', async () => {
    const csvPath = join(dir, 'results.csv');
    const csv = new ResultsCsv(csvPath);
    for (let e = 1; e <= 6; e++) {
      const l = 3 / e;
      csv.append({ epoch: e, time: e * 9.5, trainLoss: [l, l + 1, l / 2], metrics: [0.1 * e, 0.05 * e, 0.08 * e, 0.04 * e], valLoss: [l, l, l], lr: [0.01, 0.01, 0.01] });
    }
    const fig = resultsFigure(csvPath);
    const panels = fig.panels as LinePanel[];
    expect(panels.map((p) => p.title)).toEqual([
      'train/box_loss', 'train/cls_loss', 'train/dfl_loss', 'metrics/precision(B)', 'metrics/recall(B)',
      'val/box_loss', 'val/cls_loss', 'val/dfl_loss', 'metrics/mAP50(B)', 'metrics/mAP50-95(B)',
    ]);
    expect(Array.from(panels[1].series[0].y)).toEqual([4, 2.5, 2, 1.75, 1.6, 1.5]);
    expect(Array.from(panels[9].series[0].x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(panels.map((p) => p.legend)).toEqual(['none', 'best', ...Array(8).fill('none')]);
    const svg = figureToSvg(fig);
    for (const s of ['metrics/mAP50-95(B)', 'smooth', 'results']) expect(svg).toContain(s);
    const png = join(dir, 'results.png');
    await plotResults(csvPath, png);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 2400, 1200]);
  });

  it('draws the first epoch: one row, whose smoothed values differ from the raw ones by rounding only', async () => {
    const csvPath = join(dir, 'one-row.csv');
    new ResultsCsv(csvPath).append({ epoch: 1, time: 7.4, trainLoss: [6.68688, 5.98098, 4.22385], metrics: [0, 0, 0, 0], valLoss: [6.56812, 6.18649, 4.15896], lr: [0, 0, 0] });
    const panels = resultsFigure(csvPath).panels as LinePanel[];
    expect(panels[0].series[1].y[0]).not.toBe(panels[0].series[0].y[0]); // 6.686880000000001: a 1e-15 range once asked for 1e16 ticks
    const png = join(dir, 'one-row.png');
    await plotResults(csvPath, png);
    expect((await sharp(png).metadata()).width).toBe(2400);
  });
});
