/**
 * `results.png` as the reference draws it (`utils/plotting.py::plot_results`, detection): a 2 x 5
 * grid at 12 x 6 in, 200 dpi — training losses, precision and recall on top, validation losses,
 * mAP50 and mAP50-95 below — each column per epoch with dot markers plus a dotted smoothed line
 * (`gaussian_filter1d`, sigma 3), the legend on the second panel.
 */
import { saveFigure, type Figure, type LinePanel } from '../io/plot.js';
import { readResultsCsv, RESULTS_COLUMNS } from './results-csv.js';

/** Columns of RESULTS_COLUMNS in panel order (the reference's index [2, 3, 4, 5, 6, 9, 10, 11, 7, 8]). */
const PANEL_COLUMNS = [2, 3, 4, 5, 6, 9, 10, 11, 7, 8].map((i) => RESULTS_COLUMNS[i]);

/** scipy.ndimage.gaussian_filter1d(y, sigma) with its defaults: truncate 4, mode 'reflect' (d c b a | a b c d | d c b a). */
export function gaussianFilter1d(y: ArrayLike<number>, sigma: number): Float64Array {
  const n = y.length;
  const radius = Math.floor(4 * sigma + 0.5);
  const w = Array.from({ length: 2 * radius + 1 }, (_, k) => Math.exp((-0.5 * (k - radius) ** 2) / (sigma * sigma)));
  const total = w.reduce((a, b) => a + b, 0);
  const at = (i: number) => {
    let m = ((i % (2 * n)) + 2 * n) % (2 * n);
    if (m >= n) m = 2 * n - 1 - m;
    return y[m];
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = -radius; k <= radius; k++) s += w[k + radius] * at(i + k);
    out[i] = s / total;
  }
  return out;
}

/** The results.png figure of a results.csv. */
export function resultsFigure(csvPath: string): Figure {
  const { columns, rows } = readResultsCsv(csvPath);
  const x = rows.map((r) => r[0]);
  const panels: LinePanel[] = PANEL_COLUMNS.map((name, i) => {
    const j = columns.indexOf(name);
    const y = rows.map((r) => (j >= 0 ? r[j] : NaN));
    return {
      kind: 'line',
      title: name,
      titleFontSize: 12,
      legend: i === 1 ? 'best' : 'none',
      series: [
        { x, y, label: 'results', marker: true, markerSize: 8, width: 2 },
        { x, y: gaussianFilter1d(y, 3), label: 'smooth', dash: 'dotted', width: 2 },
      ],
    };
  });
  return { width: 12, height: 6, dpi: 200, rows: 2, cols: 5, panels };
}

export async function plotResults(csvPath: string, out: string): Promise<void> {
  await saveFigure(resultsFigure(csvPath), out);
}
