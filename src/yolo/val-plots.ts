/**
 * Validation plots as the reference draws them (`utils/metrics.py::plot_pr_curve`, `plot_mc_curve`,
 * `ConfusionMatrix.plot`): `BoxPR_curve.png`, `BoxF1_curve.png`, `BoxP_curve.png`, `BoxR_curve.png`
 * (9 x 6 in at 250 dpi: 2250 x 1500), `confusion_matrix.png` and `confusion_matrix_normalized.png`
 * (12 x 9 in at 250 dpi: 3000 x 2250). Per-class curves with a legend when 1..20 classes are present,
 * grey otherwise; the mean curve thick blue, "all classes ...".
 */

import { join } from 'node:path';
import { saveFigure, type Figure, type LineSeries } from '../io/plot.js';
import type { ConfusionMatrix } from './confusion-matrix.js';
import { argmax, smooth, type DetMetrics } from './metrics.js';
import { pyFormatF } from './val-table.js';

const CURVE_FIG = { width: 9, height: 6, dpi: 250 };

/** Precision-recall curve at IoU 0.5 (`{prefix}PR_curve.png`). */
export async function plotPrCurve(m: DetMetrics, path: string): Promise<void> {
  const { px, precValues, precClassIndex, classIndex, allAp, nThr } = m.raw;
  const nPresent = classIndex.length;
  const rows = Math.max(1, precClassIndex.length);
  const series: LineSeries[] = [];
  const perClassLegend = nPresent > 0 && nPresent < 21;
  for (let i = 0; i < rows; i++) {
    const y = precValues.subarray(i * 1000, (i + 1) * 1000);
    if (perClassLegend && i < precClassIndex.length) {
      const c = precClassIndex[i];
      const row = classIndex.indexOf(c);
      series.push({ x: px, y, width: 1, label: `${m.names[c] ?? c} ${pyFormatF(allAp[row * nThr], 3)}` });
    } else series.push({ x: px, y, width: 1, color: 'grey' });
  }
  const mean = new Float64Array(1000);
  for (let i = 0; i < rows; i++) for (let q = 0; q < 1000; q++) mean[q] += precValues[i * 1000 + q];
  for (let q = 0; q < 1000; q++) mean[q] /= rows;
  series.push({ x: px, y: mean, width: 3, color: 'blue', label: `all classes ${pyFormatF(m.map50, 3)} mAP@0.5` });
  const fig: Figure = {
    ...CURVE_FIG,
    panels: [{ kind: 'line', series, xlabel: 'Recall', ylabel: 'Precision', xlim: [0, 1], ylim: [0, 1], legend: 'outside', title: 'Precision-Recall Curve' }],
  };
  await saveFigure(fig, path);
}

/** Metric-confidence curve (`{prefix}F1_curve.png`, `P_curve`, `R_curve`). */
export async function plotMcCurve(m: DetMetrics, which: 'F1' | 'Precision' | 'Recall', path: string): Promise<void> {
  const { px, classIndex } = m.raw;
  const curves = which === 'F1' ? m.raw.f1Curve : which === 'Precision' ? m.raw.pCurve : m.raw.rCurve;
  const n = classIndex.length;
  const series: LineSeries[] = [];
  const perClassLegend = n > 0 && n < 21;
  for (let i = 0; i < n; i++) {
    const y = curves.subarray(i * 1000, (i + 1) * 1000);
    series.push(perClassLegend ? { x: px, y, width: 1, label: m.names[classIndex[i]] ?? String(classIndex[i]) } : { x: px, y, width: 1, color: 'grey' });
  }
  const mean = new Float64Array(1000);
  for (let i = 0; i < n; i++) for (let q = 0; q < 1000; q++) mean[q] += curves[i * 1000 + q];
  for (let q = 0; q < 1000; q++) mean[q] /= n;
  const y = smooth(mean, 0.1);
  const best = argmax(y);
  series.push({ x: px, y, width: 3, color: 'blue', label: `all classes ${pyFormatF(y[best], 2)} at ${pyFormatF(px[best], 3)}` });
  const fig: Figure = {
    ...CURVE_FIG,
    panels: [{ kind: 'line', series, xlabel: 'Confidence', ylabel: which, xlim: [0, 1], ylim: [0, 1], legend: 'outside', title: `${which}-Confidence Curve` }],
  };
  await saveFigure(fig, path);
}

/** `confusion_matrix.png` / `confusion_matrix_normalized.png` into `dir`; returns the path. */
export async function plotConfusionMatrix(cm: ConfusionMatrix, dir: string, normalize = true): Promise<string> {
  const full = cm.nc + 1;
  const src = normalize ? cm.normalized() : cm.matrix;
  let names = [...cm.names];
  let idx = Array.from({ length: full }, (_, i) => i);
  let nc = full;
  if (cm.nc >= 100) {
    const k = Math.max(2, Math.floor(cm.nc / 60));
    idx = idx.filter((i) => i % k === 0);
    names = names.filter((_, i) => i % k === 0);
    nc = Math.floor((cm.nc + k - 1) / k) + 1;
  }
  const n = idx.length;
  const data = new Float64Array(n * n);
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      const v = src[idx[a] * full + idx[b]];
      data[a * n + b] = v < 0.005 ? NaN : v;
    }
  let nanmax = -Infinity;
  for (const v of data) if (v > nanmax) nanmax = v;
  const ticklabels = nc > 0 && nc < 99 && cm.nc < 100 ? [...names, 'background'] : undefined;
  const tickFs = Math.max(6, 15 - 0.1 * nc);
  const labelFs = Math.max(6, 12 - 0.1 * nc);
  const title = 'Confusion Matrix' + (normalize ? ' Normalized' : '');
  const fig: Figure = {
    width: 12,
    height: 9,
    dpi: 250,
    panels: [
      {
        kind: 'heatmap',
        data,
        rows: n,
        cols: n,
        xTickLabels: ticklabels,
        yTickLabels: ticklabels,
        annotate: nc < 30,
        format: normalize ? (v) => pyFormatF(v, 2) : (v) => String(Math.trunc(v)),
        textThreshold: 0.45 * (normalize ? 1 : Number.isFinite(nanmax) ? nanmax : 1),
        annotationFontSize: 10,
        cmap: 'Blues',
        vmin: 0,
        tickFontSize: tickFs,
        labelFontSize: labelFs,
        titleFontSize: labelFs,
        xlabel: 'True',
        ylabel: 'Predicted',
        title,
      },
    ],
  };
  const path = join(dir, `${title.toLowerCase().replace(/ /g, '_')}.png`);
  await saveFigure(fig, path);
  return path;
}

/**
 * All validation plots into `dir`: PR / F1 / P / R curves (`prefix` 'Box' as the reference's DetMetrics) and,
 * when given, both confusion matrices. Returns the written paths.
 */
export async function saveValPlots(dir: string, m: DetMetrics, cm?: ConfusionMatrix, opts: { prefix?: string } = {}): Promise<string[]> {
  const prefix = opts.prefix ?? 'Box';
  const paths: string[] = [];
  const pr = join(dir, `${prefix}PR_curve.png`);
  await plotPrCurve(m, pr);
  paths.push(pr);
  for (const [which, name] of [['F1', 'F1'], ['Precision', 'P'], ['Recall', 'R']] as const) {
    const p = join(dir, `${prefix}${name}_curve.png`);
    await plotMcCurve(m, which, p);
    paths.push(p);
  }
  if (cm) for (const normalize of [true, false]) paths.push(await plotConfusionMatrix(cm, dir, normalize));
  return paths;
}
