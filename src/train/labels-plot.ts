/**
 * `labels.png`, the training set's labels as the reference plots them before training
 * (`utils/plotting.py::plot_labels`): 2 x 2 panels at 8 x 8 in, 200 dpi — instances per class
 * (class colours, names under the bars when fewer than 30), the first 500 boxes drawn centred
 * on a 1000 x 1000 canvas, and 50-bin 2-D histograms of box centres (x, y) and sizes (width, height).
 */
import { saveFigure, ULTRALYTICS_PALETTE, type Figure } from '../io/plot.js';

/** The labels.png figure: `cls` one class per box, `bboxes` normalized xywh, 4 per box (the dataset's labels). */
export function labelsFigure(cls: ArrayLike<number>, bboxes: ArrayLike<number>, names: readonly string[]): Figure {
  const n = cls.length;
  let nc = 0;
  for (let i = 0; i < n; i++) nc = Math.max(nc, cls[i] + 1);
  const counts = new Array<number>(nc).fill(0);
  for (let i = 0; i < n; i++) counts[cls[i]]++;
  const column = (k: number) => Array.from({ length: n }, (_, i) => bboxes[4 * i + k]);
  const shown = Math.min(n, 500);
  const rects = new Float64Array(4 * shown);
  for (let i = 0; i < shown; i++) {
    const w = bboxes[4 * i + 2], h = bboxes[4 * i + 3];
    rects.set([(0.5 - w / 2) * 1000, (0.5 - h / 2) * 1000, (0.5 + w / 2) * 1000, (0.5 + h / 2) * 1000], 4 * i);
  }
  const colorOf = (c: number) => ULTRALYTICS_PALETTE[c % ULTRALYTICS_PALETTE.length];
  const named = names.length > 0 && names.length < 30;
  return {
    width: 8,
    height: 8,
    dpi: 200,
    rows: 2,
    cols: 2,
    panels: [
      {
        kind: 'bar',
        values: counts,
        colors: counts.map((_, c) => colorOf(c)),
        ylabel: 'instances',
        ...(named ? { labels: counts.map((_, c) => names[c] ?? String(c)), rotateLabels: true } : { xlabel: 'classes' }),
      },
      {
        kind: 'rects',
        boxes: rects,
        colors: Array.from({ length: shown }, (_, i) => colorOf(cls[i])),
        lineWidth: 1,
        xlim: [0, 1000],
        ylim: [0, 1000],
        yDown: true,
        axisOff: true,
      },
      { kind: 'hist2d', x: column(0), y: column(1), bins: 50, cmap: 'Blues', xlabel: 'x', ylabel: 'y' },
      { kind: 'hist2d', x: column(2), y: column(3), bins: 50, cmap: 'Blues', xlabel: 'width', ylabel: 'height' },
    ],
  };
}

export async function plotLabels(cls: ArrayLike<number>, bboxes: ArrayLike<number>, names: readonly string[], out: string): Promise<void> {
  await saveFigure(labelsFigure(cls, bboxes, names), out);
}
