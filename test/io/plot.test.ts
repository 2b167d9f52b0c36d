import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { colormap, figureToSvg, niceTicks, saveFigure, textWidth, type Figure } from '../../src/io/plot.js';

const dir = mkdtempSync(join(tmpdir(), 'plot-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function size(path: string): Promise<[string | undefined, number | undefined, number | undefined]> {
  const m = await sharp(path).metadata();
  return [m.format, m.width, m.height];
}

const px = Array.from({ length: 101 }, (_, i) => i / 100);

describe('plot primitives', () => {
  it('nice ticks as matplotlib picks them', () => {
    expect(niceTicks(0, 1, 5).map((t) => +t.toFixed(6))).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 30, 6)).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(niceTicks(0.63, 2.37, 8).map((t) => +t.toFixed(6))).toEqual([0.8, 1, 1.2, 1.4, 1.6, 1.8, 2, 2.2]);
    expect(niceTicks(0.63, 2.37, 4).map((t) => +t.toFixed(6))).toEqual([1, 1.5, 2]);
  });

  it('text widths and colormap ends', () => {
    expect(textWidth('0.5', 10)).toBeCloseTo(15.9, 1);
    expect(textWidth('mAP50-95', 10)).toBeGreaterThan(textWidth('mAP50', 10));
    expect(colormap('Blues', 0)).toBe('rgb(247,251,255)');
    expect(colormap('Blues', 1)).toBe('rgb(8,48,107)');
  });

  it('line chart with several series, axes labels, title and an outside legend -> PNG of figsize x dpi', async () => {
    const fig: Figure = {
      width: 9,
      height: 6,
      dpi: 100,
      panels: [
        {
          kind: 'line',
          series: [
            { x: px, y: px.map((x) => 1 - x * x), width: 1, label: 'cat 0.667' },
            { x: px, y: px.map((x) => 1 - x), width: 1, label: 'dog <&> 0.5' },
            { x: px, y: px.map((x) => 1 - (x * x + x) / 2), width: 3, color: 'blue', label: 'all classes 0.583 mAP@0.5' },
          ],
          xlabel: 'Recall',
          ylabel: 'Precision',
          xlim: [0, 1],
          ylim: [0, 1],
          legend: 'outside',
          title: 'Precision-Recall Curve',
        },
      ],
    };
    const svg = figureToSvg(fig);
    for (const s of ['Precision-Recall Curve', 'Recall', 'Precision', 'cat 0.667', 'dog &lt;&amp;&gt; 0.5', 'all classes 0.583 mAP@0.5', '0.0', '1.0'])
      expect(svg).toContain(s);
    const p = join(dir, 'line.png');
    await saveFigure(fig, p);
    expect(existsSync(p)).toBe(true);
    expect(await size(p)).toEqual(['png', 900, 600]);
  });

  it('grid of subplots (results.png style: markers, dotted smooth line, legend on one panel)', async () => {
    const ep = Array.from({ length: 20 }, (_, i) => i + 1);
    const panels: Figure['panels'] = ['train/box_loss', 'train/cls_loss', 'metrics/mAP50(B)', 'metrics/mAP50-95(B)'].map((title, k) => ({
      kind: 'line',
      title,
      series: [
        { x: ep, y: ep.map((e) => Math.exp(-e / (5 + k))), label: 'results', marker: true, width: 2 },
        { x: ep, y: ep.map((e) => Math.exp(-e / (5 + k)) * 1.02), label: 'smooth', dash: 'dotted', width: 2 },
      ],
      legend: k === 1 ? 'best' : 'none',
    }));
    const p = join(dir, 'grid.png');
    await saveFigure({ width: 8, height: 4, dpi: 100, rows: 2, cols: 2, panels }, p);
    expect(await size(p)).toEqual(['png', 800, 400]);
  });

  it('annotated heatmap with tick labels and colorbar; NaN cells stay blank', async () => {
    const data = [0.9, 0.05, NaN, 0.1, 0.8, 0.3, NaN, 0.15, 0.7];
    const fig: Figure = {
      width: 6,
      height: 4.5,
      dpi: 100,
      panels: [
        {
          kind: 'heatmap',
          data,
          rows: 3,
          cols: 3,
          xTickLabels: ['cat', 'dog', 'background'],
          yTickLabels: ['cat', 'dog', 'background'],
          annotate: true,
          vmin: 0,
          xlabel: 'True',
          ylabel: 'Predicted',
          title: 'Confusion Matrix Normalized',
        },
      ],
    };
    const svg = figureToSvg(fig);
    expect(svg).toContain('>0.90<');
    expect(svg).toContain('fill="#fff"'); // dark cell -> white annotation
    expect((svg.match(/>0\.\d\d</g) ?? []).length).toBe(7); // NaN cells not annotated
    const p = join(dir, 'heatmap.png');
    await saveFigure(fig, p);
    expect(await size(p)).toEqual(['png', 600, 450]);
  });

  it('histogram, bar chart with class labels, 2-D histogram and rectangles (labels.png style)', async () => {
    let seed = 5;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const xs = Array.from({ length: 500 }, () => rnd());
    const ys = xs.map((x) => x * 0.5 + rnd() * 0.5);
    const fig: Figure = {
      width: 6,
      height: 6,
      dpi: 80,
      rows: 2,
      cols: 2,
      panels: [
        { kind: 'bar', values: [5, 12, 3], labels: ['person', 'bicycle', 'car'], ylabel: 'instances' },
        { kind: 'rects', boxes: [0.2, 0.2, 0.8, 0.8, 0.4, 0.3, 0.6, 0.7], alpha: 0.5, axisOff: true, xlim: [0, 1], ylim: [0, 1] },
        { kind: 'hist2d', x: xs, y: ys, bins: 20, range: [[0, 1], [0, 1]], xlabel: 'x', ylabel: 'y' },
        { kind: 'histogram', data: xs, bins: 10, range: [0, 1], xlabel: 'width', grid: true },
      ],
    };
    const svg = figureToSvg(fig);
    expect(svg).toContain('bicycle');
    const p = join(dir, 'labels.png');
    await saveFigure(fig, p);
    expect(await size(p)).toEqual(['png', 480, 480]);
  });
});
