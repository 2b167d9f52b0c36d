import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { figureToSvg, ULTRALYTICS_PALETTE, type BarPanel, type Hist2dPanel, type RectsPanel } from '../../src/io/plot.js';
import { labelsFigure, plotLabels } from '../../src/train/labels-plot.js';
import { rng } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'labels-plot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function labels(n: number, nc: number, seed: number): { cls: Float32Array; bboxes: Float32Array } {
  const r = rng(seed);
  const cls = Float32Array.from({ length: n }, () => Math.floor(r() * nc));
  const bboxes = Float32Array.from({ length: 4 * n }, () => 0.05 + 0.9 * r());
  return { cls, bboxes };
}

describe('labels.png', () => {
  it('class histogram in class colours with names, 500 centred boxes, x/y and width/height 2-D histograms', () => {
    const { cls, bboxes } = labels(617, 3, 1);
    const fig = labelsFigure(cls, bboxes, ['person', 'bicycle', 'car']);
    const [bars, rects, centres, sizes] = fig.panels as [BarPanel, RectsPanel, Hist2dPanel, Hist2dPanel];
    const counts = [0, 1, 2].map((c) => cls.filter((k) => k === c).length);
    expect(Array.from(bars.values)).toEqual(counts);
    expect(counts.reduce((a, b) => a + b)).toBe(617);
    expect(bars.labels).toEqual(['person', 'bicycle', 'car']);
    expect(bars.colors).toEqual(ULTRALYTICS_PALETTE.slice(0, 3));
    expect(rects.boxes.length).toBe(4 * 500);
    // box 7 drawn centred: x1 = (0.5 - w / 2) * 1000
    const w = bboxes[4 * 7 + 2], h = bboxes[4 * 7 + 3];
    expect(rects.boxes[4 * 7]).toBeCloseTo((0.5 - w / 2) * 1000, 9);
    expect(rects.boxes[4 * 7 + 3]).toBeCloseTo((0.5 + h / 2) * 1000, 9);
    expect((rects.colors as string[])[7]).toBe(ULTRALYTICS_PALETTE[cls[7]]);
    expect(Array.from(centres.x)).toEqual(Array.from({ length: 617 }, (_, i) => bboxes[4 * i]));
    expect(Array.from(sizes.y)).toEqual(Array.from({ length: 617 }, (_, i) => bboxes[4 * i + 3]));
    expect([sizes.xlabel, sizes.ylabel, sizes.bins]).toEqual(['width', 'height', 50]);
    expect(figureToSvg(fig)).toContain('bicycle');
  });

  it('30 or more classes are not named: the axis says classes', () => {
    const { cls, bboxes } = labels(50, 40, 2);
    const bars = labelsFigure(cls, bboxes, Array.from({ length: 40 }, (_, i) => `c${i}`)).panels[0] as BarPanel;
    expect(bars.labels).toBeUndefined();
    expect(bars.xlabel).toBe('classes');
  });

  it('renders 1600 x 1600 pixels', async () => {
    const { cls, bboxes } = labels(80, 5, 3);
    const out = join(dir, 'labels.png');
    await plotLabels(cls, bboxes, ['a', 'b', 'c', 'd', 'e'], out);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1600, 1600]);
  });
});
