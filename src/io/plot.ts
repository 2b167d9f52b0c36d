/**
 * Small chart library: figures of panels (line charts with several series, bars, histograms, 2-D histograms,
 * annotated heatmaps, rectangles) laid out on a grid, written as SVG and rasterized to PNG with sharp.
 *
 * The look follows matplotlib's defaults as Ultralytics uses them (`plt_settings`: font size 11, DejaVu Sans,
 * tab10 colour cycle, 0.8 pt black spines, outward ticks, auto "nice" ticks with a 5 % data margin, framed
 * legends, `tight_layout`-style margins). Layout is computed in points (1/72 inch); the PNG is
 * `width * dpi` x `height * dpi` pixels (figure size in inches, as matplotlib's `figsize` / `dpi`).
 * Text widths come from DejaVu Sans advance widths, so labels and legends are sized without a renderer.
 */

import sharp from 'sharp';

// ---------------------------------------------------------------------------------------------------------
// Public types

export type LegendLoc = 'none' | 'best' | 'upper right' | 'upper left' | 'lower left' | 'lower right' | 'outside';
export type ColormapName = 'Blues' | 'viridis';

interface AxesOptions {
  title?: string;
  xlabel?: string;
  ylabel?: string;
  /** Axis limits; default: data range plus a 5 % margin (exact for heatmaps / images). */
  xlim?: readonly [number, number];
  ylim?: readonly [number, number];
  /** Light grid lines at the major ticks. Default false. */
  grid?: boolean;
  /** Legend placement ('outside' = right of the axes, top-aligned, as `bbox_to_anchor=(1.04, 1)`). */
  legend?: LegendLoc;
  /** Hide spines, ticks and labels. */
  axisOff?: boolean;
  /** Title font size in points (default 1.2 x figure font size). */
  titleFontSize?: number;
}

export interface LineSeries {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  label?: string;
  /** CSS colour; default: next tab10 colour. */
  color?: string;
  /** Line width in points (default 1.5). */
  width?: number;
  dash?: 'solid' | 'dashed' | 'dotted';
  /** Dot markers at the points. */
  marker?: boolean;
  /** Marker diameter in points (default 6). */
  markerSize?: number;
}

export interface LinePanel extends AxesOptions {
  kind: 'line';
  series: LineSeries[];
}

export interface BarPanel extends AxesOptions {
  kind: 'bar';
  values: ArrayLike<number>;
  /** Category label under each bar. */
  labels?: readonly string[];
  colors?: string | readonly string[];
  /** Rotate category labels 90 degrees (default: when the labels do not fit side by side). */
  rotateLabels?: boolean;
}

export interface HistogramPanel extends AxesOptions {
  kind: 'histogram';
  data: ArrayLike<number>;
  bins?: number;
  range?: readonly [number, number];
  color?: string;
}

export interface Hist2dPanel extends AxesOptions {
  kind: 'hist2d';
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  bins?: number;
  range?: readonly [readonly [number, number], readonly [number, number]];
  cmap?: ColormapName;
}

export interface HeatmapPanel extends AxesOptions {
  kind: 'heatmap';
  /** rows x cols, row-major; NaN cells are left blank. Row 0 is drawn at the top. */
  data: ArrayLike<number>;
  rows: number;
  cols: number;
  xTickLabels?: readonly string[];
  yTickLabels?: readonly string[];
  /** Write each (non-NaN) value in its cell. */
  annotate?: boolean;
  format?: (v: number) => string;
  cmap?: ColormapName;
  vmin?: number;
  vmax?: number;
  colorbar?: boolean;
  /** Annotation text is white above this value (default 0.45 of vmax). */
  textThreshold?: number;
  annotationFontSize?: number;
  tickFontSize?: number;
  labelFontSize?: number;
}

export interface RectsPanel extends AxesOptions {
  kind: 'rects';
  /** Rectangles x1, y1, x2, y2 (n * 4) in data coordinates (y down when `yDown`). */
  boxes: ArrayLike<number>;
  colors?: string | readonly string[];
  lineWidth?: number;
  alpha?: number;
  yDown?: boolean;
}

export type Panel = LinePanel | BarPanel | HistogramPanel | Hist2dPanel | HeatmapPanel | RectsPanel;

export interface Figure {
  /** Size in inches (matplotlib `figsize`). */
  width: number;
  height: number;
  /** Pixels per inch of the PNG (default 100). */
  dpi?: number;
  /** Grid of panels (default: 1 row, as many columns as panels). Panels fill it row by row. */
  rows?: number;
  cols?: number;
  panels: Panel[];
  /** Base font size in points (default 11). */
  fontSize?: number;
  /** Figure title (suptitle). */
  title?: string;
  /** Outer padding in points (default 1.08 x font size, as tight_layout). */
  pad?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Colours

/** matplotlib's default colour cycle. */
export const TAB10 = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Ultralytics' `Colors` palette (class colours of its plots). */
export const ULTRALYTICS_PALETTE = [
  '#042AFF', '#0BDBEB', '#F3F3F3', '#00DFB7', '#111F68', '#FF6FDD', '#FF444F', '#CCED00', '#00F344', '#BD00FF',
  '#00B4FF', '#DD00BA', '#00FFFF', '#26C000', '#01FFB3', '#7D24FF', '#7B0068', '#FF1B6C', '#FC6D2F', '#A2FF0B',
];

const CMAPS: Record<ColormapName, string[]> = {
  Blues: ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'],
  viridis: ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'],
};

function hexToRgb(h: string): [number, number, number] {
  const v = parseInt(h.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Colour of `t` in [0, 1] on a colormap (linear between the anchor colours). */
export function colormap(name: ColormapName, t: number): string {
  const stops = CMAPS[name];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const a = hexToRgb(stops[i]), b = hexToRgb(stops[i + 1]);
  const u = x - i;
  const c = a.map((v, k) => Math.round(v + (b[k] - v) * u));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// ---------------------------------------------------------------------------------------------------------
// Text metrics (DejaVu Sans advance widths, 1/1000 em, ASCII 32..126)

const ADV = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636, 636, 636,
  337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635,
  611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974,
  634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];

/** Width in points of `s` set in DejaVu Sans at `size` points. */
export function textWidth(s: string, size: number): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    w += c >= 32 && c < 127 ? ADV[c - 32] : 650;
  }
  return (w * size) / 1000;
}

const FONT = "DejaVu Sans, Bitstream Vera Sans, Verdana, sans-serif";

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n2(v: number): string {
  return Number.isFinite(v) ? (Math.round(v * 100) / 100).toString() : '0';
}

type Anchor = 'start' | 'middle' | 'end';

/** Text whose vertical centre (or baseline) sits at y. */
function text(
  x: number,
  y: number,
  s: string,
  size: number,
  opts: { anchor?: Anchor; vcenter?: boolean; rotate?: number; color?: string; weight?: string } = {},
): string {
  const yy = opts.vcenter ? y + 0.36 * size : y;
  const rot = opts.rotate ? ` transform="rotate(${opts.rotate} ${n2(x)} ${n2(y)})"` : '';
  const col = opts.color && opts.color !== '#000' ? ` fill="${opts.color}"` : '';
  const wt = opts.weight ? ` font-weight="${opts.weight}"` : '';
  return `<text x="${n2(x)}" y="${n2(yy)}" font-size="${n2(size)}" text-anchor="${opts.anchor ?? 'start'}"${col}${wt}${rot}>${esc(s)}</text>`;
}

// ---------------------------------------------------------------------------------------------------------
// Ticks

/** matplotlib-style "nice" ticks (steps 1, 2, 2.5, 5, 10 x 10^k, at most `maxTicks` intervals) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, maxIntervals: number): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return Number.isFinite(lo) ? [lo] : [];
  const n = Math.max(1, maxIntervals);
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = 10 * mag;
  for (const m of [1, 2, 2.5, 5, 10]) {
    const s = m * mag;
    if (Math.floor(hi / s + 1e-9) - Math.ceil(lo / s - 1e-9) <= n) {
      step = s;
      break;
    }
  }
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++) out.push(k * step + 0); // + 0: no -0
  return out;
}

function tickDecimals(ticks: number[]): number {
  let d = 0;
  for (const t of ticks) {
    for (let k = 0; k < 6; k++) {
      if (Math.abs(t * 10 ** k - Math.round(t * 10 ** k)) < 1e-6 * Math.max(1, Math.abs(t * 10 ** k))) {
        d = Math.max(d, k);
        break;
      }
      if (k === 5) d = 5;
    }
  }
  return d;
}

function fmtTicks(ticks: number[]): string[] {
  const d = tickDecimals(ticks);
  return ticks.map((t) => {
    const s = (Math.abs(t) < 1e-12 ? 0 : t).toFixed(d);
    return s.replace('-', '\u2212');
  });
}

// ---------------------------------------------------------------------------------------------------------
// Layout helpers

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Scale {
  lo: number;
  hi: number;
}

function dataRange(arrays: ArrayLike<number>[], margin = 0.05): Scale {
  let lo = Infinity, hi = -Infinity;
  for (const a of arrays)
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  if (!Number.isFinite(lo)) return { lo: 0, hi: 1 };
  // Values equal up to rounding (a smoothed constant series) are one value: a 1e-15 range would ask for ~1e16 ticks.
  if (hi - lo <= 1e-9 * Math.max(Math.abs(lo), Math.abs(hi))) return { lo: lo - (Math.abs(lo) * 0.05 || 0.05), hi: hi + (Math.abs(hi) * 0.05 || 0.05) };
  const m = (hi - lo) * margin;
  return { lo: lo - m, hi: hi + m };
}

interface Legend {
  entries: { label: string; color: string; width: number; dash?: string; marker?: boolean; patch?: boolean }[];
  w: number;
  h: number;
  fs: number;
}

function makeLegend(entries: Legend['entries'], fs: number): Legend | null {
  if (!entries.length) return null;
  const handle = 2 * fs, gap = 0.8 * fs, border = 0.4 * fs, spacing = 0.5 * fs;
  const maxLabel = Math.max(...entries.map((e) => textWidth(e.label, fs)));
  const w = 2 * border + handle + gap + maxLabel + 0.3 * fs;
  const h = 2 * border + entries.length * fs * 1.0 + (entries.length - 1) * spacing + 0.3 * fs;
  return { entries, w, h, fs };
}

function drawLegend(lg: Legend, x: number, y: number): string {
  const { fs } = lg;
  const border = 0.4 * fs, handle = 2 * fs, gap = 0.8 * fs, spacing = 0.5 * fs;
  const parts: string[] = [];
  parts.push(
    `<rect x="${n2(x)}" y="${n2(y)}" width="${n2(lg.w)}" height="${n2(lg.h)}" rx="${n2(0.2 * fs)}" fill="#fff" fill-opacity="0.8" stroke="#ccc" stroke-width="0.8"/>`,
  );
  let cy = y + border + 0.15 * fs + fs / 2;
  for (const e of lg.entries) {
    const hx = x + border + 0.15 * fs;
    if (e.patch) {
      parts.push(`<rect x="${n2(hx)}" y="${n2(cy - 0.35 * fs)}" width="${n2(handle)}" height="${n2(0.7 * fs)}" fill="${e.color}"/>`);
    } else {
      parts.push(
        `<line x1="${n2(hx)}" y1="${n2(cy)}" x2="${n2(hx + handle)}" y2="${n2(cy)}" stroke="${e.color}" stroke-width="${n2(e.width)}"${dashAttr(e.dash, e.width)}/>`,
      );
      if (e.marker) parts.push(`<circle cx="${n2(hx + handle / 2)}" cy="${n2(cy)}" r="${n2(3)}" fill="${e.color}"/>`);
    }
    parts.push(text(hx + handle + gap, cy, e.label, fs, { vcenter: true }));
    cy += fs + spacing;
  }
  return parts.join('');
}

function dashAttr(dash: string | undefined, w: number): string {
  if (dash === 'dashed') return ` stroke-dasharray="${n2(3.7 * w)} ${n2(1.6 * w)}"`;
  if (dash === 'dotted') return ` stroke-dasharray="${n2(1 * w)} ${n2(1.65 * w)}"`;
  return '';
}

// ---------------------------------------------------------------------------------------------------------
// Panel rendering

interface Ctx {
  fs: number;
  clipId: number;
  defs: string[];
}

const TICK_LEN = 3.5, TICK_PAD = 3.5, LABEL_PAD = 4, TITLE_PAD = 6;

function linePanelGeom(p: LinePanel, fs: number, colorOf: (i: number) => string): { xs: Scale; ys: Scale; legend: Legend | null } {
  const xs = p.xlim ? { lo: p.xlim[0], hi: p.xlim[1] } : dataRange(p.series.map((s) => s.x));
  const ys = p.ylim ? { lo: p.ylim[0], hi: p.ylim[1] } : dataRange(p.series.map((s) => s.y));
  const entries = p.series
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.label !== undefined && !s.label.startsWith('_'))
    .map(({ s, i }) => ({ label: s.label!, color: s.color ?? colorOf(i), width: s.width ?? 1.5, dash: s.dash, marker: s.marker }));
  return { xs, ys, legend: p.legend === 'none' ? null : makeLegend(entries, fs) };
}

function histCounts(data: ArrayLike<number>, bins: number, lo: number, hi: number): Float64Array {
  const c = new Float64Array(bins);
  const w = (hi - lo) / bins;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(v >= lo && v <= hi)) continue;
    c[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
  }
  return c;
}

/** Render one panel into `cell`; returns SVG. */
function renderPanel(p: Panel, cell: Rect, ctx: Ctx): string {
  const fs = ctx.fs;
  const titleFs = p.titleFontSize ?? 1.2 * fs;
  const colorOf = (i: number) => TAB10[i % TAB10.length];
  const out: string[] = [];

  // --- geometry by kind -------------------------------------------------------------------------------
  let xs: Scale, ys: Scale;
  let legend: Legend | null = null;
  let xCats: string[] | null = null, yCats: string[] | null = null;
  let rotateX = false;
  let yDown = false;
  let hmap: HeatmapPanel | null = null;
  let tickFs = fs, labelFs = fs;
  switch (p.kind) {
    case 'line': {
      const g = linePanelGeom(p, fs, colorOf);
      xs = g.xs;
      ys = g.ys;
      legend = g.legend;
      break;
    }
    case 'bar': {
      const n = p.values.length;
      xs = p.xlim ? { lo: p.xlim[0], hi: p.xlim[1] } : { lo: -0.5 - 0.04 * n, hi: n - 0.5 + 0.04 * n };
      let mx = 0;
      for (let i = 0; i < n; i++) mx = Math.max(mx, p.values[i]);
      ys = p.ylim ? { lo: p.ylim[0], hi: p.ylim[1] } : { lo: 0, hi: (mx || 1) * 1.05 };
      if (p.labels) {
        xCats = [...p.labels];
        // rotate when the widest label does not fit its bar slot (estimated from the cell width)
        const widest = Math.max(0, ...xCats.map((s) => textWidth(s, fs)));
        rotateX = p.rotateLabels ?? widest > (0.8 * cell.w) / Math.max(1, n + 0.08 * n) * 0.9;
      }
      break;
    }
    case 'histogram': {
      const r = p.range ?? (() => {
        const d = dataRange([p.data], 0);
        return [d.lo, d.hi] as const;
      })();
      const bins = p.bins ?? 10;
      const c = histCounts(p.data, bins, r[0], r[1]);
      let mx = 0;
      for (const v of c) mx = Math.max(mx, v);
      const m = (r[1] - r[0]) * 0.05;
      xs = p.xlim ? { lo: p.xlim[0], hi: p.xlim[1] } : { lo: r[0] - m, hi: r[1] + m };
      ys = p.ylim ? { lo: p.ylim[0], hi: p.ylim[1] } : { lo: 0, hi: (mx || 1) * 1.05 };
      break;
    }
    case 'hist2d': {
      const rx = p.range?.[0] ?? [dataRange([p.x], 0).lo, dataRange([p.x], 0).hi];
      const ry = p.range?.[1] ?? [dataRange([p.y], 0).lo, dataRange([p.y], 0).hi];
      xs = p.xlim ? { lo: p.xlim[0], hi: p.xlim[1] } : { lo: rx[0], hi: rx[1] };
      ys = p.ylim ? { lo: p.ylim[0], hi: p.ylim[1] } : { lo: ry[0], hi: ry[1] };
      break;
    }
    case 'heatmap': {
      hmap = p;
      xs = { lo: -0.5, hi: p.cols - 0.5 };
      ys = { lo: -0.5, hi: p.rows - 0.5 };
      yDown = true;
      xCats = p.xTickLabels ? [...p.xTickLabels] : null;
      yCats = p.yTickLabels ? [...p.yTickLabels] : null;
      rotateX = !!xCats;
      tickFs = p.tickFontSize ?? fs;
      labelFs = p.labelFontSize ?? fs;
      break;
    }
    case 'rects': {
      const b = p.boxes;
      const xsArr: number[] = [], ysArr: number[] = [];
      for (let i = 0; i + 3 < b.length; i += 4) xsArr.push(b[i], b[i + 2]), ysArr.push(b[i + 1], b[i + 3]);
      xs = p.xlim ? { lo: p.xlim[0], hi: p.xlim[1] } : dataRange([xsArr]);
      ys = p.ylim ? { lo: p.ylim[0], hi: p.ylim[1] } : dataRange([ysArr]);
      yDown = p.yDown ?? true;
      break;
    }
  }
  const axisOff = p.axisOff ?? false;

  // --- decorations: compute the axes rectangle -------------------------------------------------------
  const estTicks = (scale: Scale, lenPt: number, perTick: number) => niceTicks(scale.lo, scale.hi, Math.min(9, Math.max(1, Math.floor(lenPt / perTick))));
  // first pass with a rough axes size for tick labels
  let xTicks: number[], yTicks: number[], xLabels: string[], yLabels: string[];
  const computeTicks = (axW: number, axH: number) => {
    if (xCats) {
      xTicks = xCats.map((_, i) => i);
      xLabels = xCats;
    } else if (p.kind === 'heatmap') {
      xTicks = niceTicks(0, p.cols - 1, Math.min(9, p.cols));
      xLabels = xTicks.map(String);
    } else {
      xTicks = estTicks(xs, axW, tickFs * 3);
      xLabels = fmtTicks(xTicks);
    }
    if (yCats) {
      yTicks = yCats.map((_, i) => i);
      yLabels = yCats;
    } else if (p.kind === 'heatmap') {
      yTicks = niceTicks(0, p.rows - 1, Math.min(9, p.rows));
      yLabels = yTicks.map(String);
    } else {
      yTicks = estTicks(ys, axH, tickFs * 2);
      yLabels = fmtTicks(yTicks);
    }
  };
  computeTicks(cell.w * 0.8, cell.h * 0.8);
  const ytlW = () => (axisOff || !yLabels!.length ? 0 : Math.max(...yLabels!.map((s) => textWidth(s, tickFs))));
  const xtlH = () => (axisOff || !xLabels!.length ? 0 : rotateX ? Math.max(...xLabels!.map((s) => textWidth(s, tickFs))) : 1.2 * tickFs);
  const layout = (): Rect => {
    let left = cell.x, right = cell.x + cell.w, top = cell.y, bottom = cell.y + cell.h;
    if (!axisOff) {
      left += ytlW() + TICK_LEN + TICK_PAD;
      bottom -= xtlH() + TICK_LEN + TICK_PAD;
      if (p.ylabel) left += 1.2 * labelFs + LABEL_PAD;
      if (p.xlabel) bottom -= 1.2 * labelFs + LABEL_PAD;
    }
    if (p.title) top += 1.2 * titleFs + TITLE_PAD;
    let w = right - left;
    if (legend && p.legend === 'outside') w = (w - legend.w) / 1.04;
    if (hmap && hmap.colorbar !== false) {
      const vmax = hmapVmax(hmap);
      const cbt = fmtTicks(niceTicks(hmap.vmin ?? 0, vmax, 6));
      const cbLabelW = Math.max(0, ...cbt.map((s) => textWidth(s, fs)));
      w -= cbLabelW + TICK_LEN + TICK_PAD + 0.1 * w;
    }
    return { x: left, y: top, w: Math.max(1, w), h: Math.max(1, bottom - top) };
  };
  let ax = layout();
  computeTicks(ax.w, ax.h);
  ax = layout();
  if (hmap) {
    // square cells, centred in the available box (imshow aspect='equal')
    const c = Math.min(ax.w / hmap.cols, ax.h / hmap.rows);
    const w = c * hmap.cols, h = c * hmap.rows;
    ax = { x: ax.x + (ax.w - w) / 2, y: ax.y + (ax.h - h) / 2, w, h };
  }

  const X = (v: number) => ax.x + ((v - xs.lo) / (xs.hi - xs.lo)) * ax.w;
  const Y = yDown ? (v: number) => ax.y + ((v - ys.lo) / (ys.hi - ys.lo)) * ax.h : (v: number) => ax.y + ax.h - ((v - ys.lo) / (ys.hi - ys.lo)) * ax.h;

  const clipId = `c${ctx.clipId++}`;
  ctx.defs.push(`<clipPath id="${clipId}"><rect x="${n2(ax.x)}" y="${n2(ax.y)}" width="${n2(ax.w)}" height="${n2(ax.h)}"/></clipPath>`);

  // --- grid -----------------------------------------------------------------------------------------------
  if (p.grid && !axisOff) {
    const g: string[] = [];
    for (const t of xTicks!) if (t >= xs.lo && t <= xs.hi) g.push(`M${n2(X(t))} ${n2(ax.y)}V${n2(ax.y + ax.h)}`);
    for (const t of yTicks!) if (t >= Math.min(ys.lo, ys.hi) && t <= Math.max(ys.lo, ys.hi)) g.push(`M${n2(ax.x)} ${n2(Y(t))}H${n2(ax.x + ax.w)}`);
    out.push(`<path d="${g.join('')}" stroke="#b0b0b0" stroke-width="0.8" stroke-opacity="0.5" fill="none"/>`);
  }

  // --- content --------------------------------------------------------------------------------------------
  const body: string[] = [];
  switch (p.kind) {
    case 'line': {
      p.series.forEach((s, i) => {
        const color = s.color ?? colorOf(i);
        const w = s.width ?? 1.5;
        const n = Math.min(s.x.length, s.y.length);
        let d = '';
        let pen = false;
        for (let k = 0; k < n; k++) {
          const xv = s.x[k], yv = s.y[k];
          if (!Number.isFinite(xv) || !Number.isFinite(yv)) {
            pen = false;
            continue;
          }
          d += `${pen ? 'L' : 'M'}${n2(X(xv))} ${n2(Y(yv))}`;
          pen = true;
        }
        if (d && (s.dash !== undefined || !s.marker || w > 0))
          body.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${n2(w)}" stroke-linejoin="round" stroke-linecap="${s.dash && s.dash !== 'solid' ? 'butt' : 'square'}"${dashAttr(s.dash, w)}/>`);
        if (s.marker) {
          const r = (s.markerSize ?? 6) / 2;
          const dots: string[] = [];
          for (let k = 0; k < n; k++) {
            if (!Number.isFinite(s.x[k]) || !Number.isFinite(s.y[k])) continue;
            dots.push(`<circle cx="${n2(X(s.x[k]))}" cy="${n2(Y(s.y[k]))}" r="${n2(r)}"/>`);
          }
          body.push(`<g fill="${color}">${dots.join('')}</g>`);
        }
      });
      break;
    }
    case 'bar': {
      const n = p.values.length;
      const bw = 0.8;
      for (let i = 0; i < n; i++) {
        const color = typeof p.colors === 'string' ? p.colors : p.colors ? p.colors[i % p.colors.length] : TAB10[0];
        const x0 = X(i - bw / 2), x1 = X(i + bw / 2), y0 = Y(0), y1 = Y(p.values[i]);
        body.push(`<rect x="${n2(x0)}" y="${n2(Math.min(y0, y1))}" width="${n2(x1 - x0)}" height="${n2(Math.abs(y0 - y1))}" fill="${color}"/>`);
      }
      break;
    }
    case 'histogram': {
      const r = p.range ?? [dataRange([p.data], 0).lo, dataRange([p.data], 0).hi];
      const bins = p.bins ?? 10;
      const c = histCounts(p.data, bins, r[0], r[1]);
      const bw = (r[1] - r[0]) / bins;
      for (let i = 0; i < bins; i++) {
        const x0 = X(r[0] + i * bw), x1 = X(r[0] + (i + 1) * bw), y0 = Y(0), y1 = Y(c[i]);
        body.push(`<rect x="${n2(x0)}" y="${n2(y1)}" width="${n2(x1 - x0)}" height="${n2(y0 - y1)}" fill="${p.color ?? TAB10[0]}" stroke="#fff" stroke-width="0.3"/>`);
      }
      break;
    }
    case 'hist2d': {
      const bins = p.bins ?? 50;
      const c = new Float64Array(bins * bins);
      const wx = (xs.hi - xs.lo) / bins, wy = (ys.hi - ys.lo) / bins;
      const n = Math.min(p.x.length, p.y.length);
      for (let k = 0; k < n; k++) {
        const i = Math.floor((p.x[k] - xs.lo) / wx), j = Math.floor((p.y[k] - ys.lo) / wy);
        if (p.x[k] === xs.hi && i === bins) c[j * bins + bins - 1]++;
        else if (i >= 0 && i < bins && j >= 0 && j < bins) c[j * bins + i]++;
        else if (j === bins && p.y[k] === ys.hi && i >= 0 && i < bins) c[(bins - 1) * bins + i]++;
      }
      let mx = 0;
      for (const v of c) mx = Math.max(mx, v);
      for (let j = 0; j < bins; j++)
        for (let i = 0; i < bins; i++) {
          const v = c[j * bins + i];
          if (!v) continue;
          const x0 = X(xs.lo + i * wx), x1 = X(xs.lo + (i + 1) * wx), y0 = Y(ys.lo + j * wy), y1 = Y(ys.lo + (j + 1) * wy);
          body.push(`<rect x="${n2(x0)}" y="${n2(Math.min(y0, y1))}" width="${n2(x1 - x0 + 0.05)}" height="${n2(Math.abs(y1 - y0) + 0.05)}" fill="${colormap(p.cmap ?? 'Blues', 0.15 + 0.85 * (v / mx))}"/>`);
        }
      break;
    }
    case 'heatmap': {
      const vmin = p.vmin ?? 0;
      const vmax = hmapVmax(p);
      const cm = p.cmap ?? 'Blues';
      const fmt = p.format ?? ((v: number) => v.toFixed(2));
      const thr = p.textThreshold ?? 0.45 * vmax;
      const afs = p.annotationFontSize ?? 10;
      const cw = ax.w / p.cols, ch = ax.h / p.rows;
      for (let i = 0; i < p.rows; i++)
        for (let j = 0; j < p.cols; j++) {
          const v = p.data[i * p.cols + j];
          if (!Number.isFinite(v)) continue;
          const t = (v - vmin) / (vmax - vmin || 1);
          body.push(`<rect x="${n2(ax.x + j * cw)}" y="${n2(ax.y + i * ch)}" width="${n2(cw + 0.05)}" height="${n2(ch + 0.05)}" fill="${colormap(cm, t)}"/>`);
        }
      if (p.annotate) {
        for (let i = 0; i < p.rows; i++)
          for (let j = 0; j < p.cols; j++) {
            const v = p.data[i * p.cols + j];
            if (!Number.isFinite(v)) continue;
            body.push(text(ax.x + (j + 0.5) * cw, ax.y + (i + 0.5) * ch, fmt(v), afs, { anchor: 'middle', vcenter: true, color: v > thr ? '#fff' : '#000' }));
          }
      }
      if (p.colorbar !== false) {
        const cbx = ax.x + ax.w + 0.05 * ax.w, cbw = Math.max(6, 0.046 * ax.w * 0.6);
        const steps = 64;
        const cb: string[] = [];
        for (let k = 0; k < steps; k++) {
          const y0 = ax.y + ax.h - ((k + 1) / steps) * ax.h;
          cb.push(`<rect x="${n2(cbx)}" y="${n2(y0)}" width="${n2(cbw)}" height="${n2(ax.h / steps + 0.05)}" fill="${colormap(cm, (k + 0.5) / steps)}"/>`);
        }
        const ticks = niceTicks(vmin, vmax, 6);
        const labels = fmtTicks(ticks);
        ticks.forEach((t, k) => {
          const y = ax.y + ax.h - ((t - vmin) / (vmax - vmin || 1)) * ax.h;
          cb.push(`<line x1="${n2(cbx + cbw)}" y1="${n2(y)}" x2="${n2(cbx + cbw + TICK_LEN)}" y2="${n2(y)}" stroke="#000" stroke-width="0.8"/>`);
          cb.push(text(cbx + cbw + TICK_LEN + TICK_PAD, y, labels[k], fs, { vcenter: true }));
        });
        out.push(cb.join(''));
      }
      break;
    }
    case 'rects': {
      const b = p.boxes;
      const lw = p.lineWidth ?? 1;
      for (let i = 0, k = 0; i + 3 < b.length; i += 4, k++) {
        const color = typeof p.colors === 'string' ? p.colors : p.colors ? p.colors[k % p.colors.length] : TAB10[0];
        const x0 = X(b[i]), x1 = X(b[i + 2]), y0 = Y(b[i + 1]), y1 = Y(b[i + 3]);
        body.push(
          `<rect x="${n2(Math.min(x0, x1))}" y="${n2(Math.min(y0, y1))}" width="${n2(Math.abs(x1 - x0))}" height="${n2(Math.abs(y1 - y0))}" fill="none" stroke="${color}" stroke-width="${n2(lw)}" stroke-opacity="${p.alpha ?? 1}"/>`,
        );
      }
      break;
    }
  }
  out.push(`<g clip-path="url(#${clipId})">${body.join('')}</g>`);

  // --- spines, ticks, labels ---------------------------------------------------------------------------
  if (!axisOff) {
    if (p.kind !== 'heatmap') out.push(`<rect x="${n2(ax.x)}" y="${n2(ax.y)}" width="${n2(ax.w)}" height="${n2(ax.h)}" fill="none" stroke="#000" stroke-width="0.8"/>`);
    const tk: string[] = [];
    const eps = 1e-9 * (Math.abs(xs.hi - xs.lo) + Math.abs(ys.hi - ys.lo));
    xTicks!.forEach((t, k) => {
      if (t < Math.min(xs.lo, xs.hi) - eps || t > Math.max(xs.lo, xs.hi) + eps) return;
      const x = X(t);
      tk.push(`<line x1="${n2(x)}" y1="${n2(ax.y + ax.h)}" x2="${n2(x)}" y2="${n2(ax.y + ax.h + TICK_LEN)}" stroke="#000" stroke-width="0.8"/>`);
      const ty = ax.y + ax.h + TICK_LEN + TICK_PAD;
      if (rotateX) tk.push(text(x + 0.36 * tickFs, ty, xLabels![k], tickFs, { anchor: 'end', rotate: -90 }));
      else tk.push(text(x, ty + 0.93 * tickFs, xLabels![k], tickFs, { anchor: 'middle' }));
    });
    yTicks!.forEach((t, k) => {
      if (t < Math.min(ys.lo, ys.hi) - eps || t > Math.max(ys.lo, ys.hi) + eps) return;
      const y = Y(t);
      tk.push(`<line x1="${n2(ax.x)}" y1="${n2(y)}" x2="${n2(ax.x - TICK_LEN)}" y2="${n2(y)}" stroke="#000" stroke-width="0.8"/>`);
      tk.push(text(ax.x - TICK_LEN - TICK_PAD, y, yLabels![k], tickFs, { anchor: 'end', vcenter: true }));
    });
    out.push(tk.join(''));
    if (p.xlabel) {
      const y = ax.y + ax.h + TICK_LEN + TICK_PAD + xtlH() + LABEL_PAD + 0.93 * labelFs;
      out.push(text(ax.x + ax.w / 2, y, p.xlabel, labelFs, { anchor: 'middle' }));
    }
    if (p.ylabel) {
      const x = ax.x - TICK_LEN - TICK_PAD - ytlW() - LABEL_PAD - 0.25 * labelFs;
      out.push(text(x, ax.y + ax.h / 2, p.ylabel, labelFs, { anchor: 'middle', rotate: -90 }));
    }
  }
  if (p.title) out.push(text(ax.x + ax.w / 2, ax.y - TITLE_PAD - 0.25 * titleFs, p.title, titleFs, { anchor: 'middle' }));

  // --- legend ------------------------------------------------------------------------------------------
  if (legend && p.legend !== 'none') {
    const pad = 0.5 * fs;
    let lx: number, ly: number;
    const loc = p.legend ?? 'best';
    const corners: Record<string, [number, number]> = {
      'upper right': [ax.x + ax.w - pad - legend.w, ax.y + pad],
      'upper left': [ax.x + pad, ax.y + pad],
      'lower left': [ax.x + pad, ax.y + ax.h - pad - legend.h],
      'lower right': [ax.x + ax.w - pad - legend.w, ax.y + ax.h - pad - legend.h],
    };
    if (loc === 'outside') [lx, ly] = [ax.x + 1.04 * ax.w, ax.y];
    else if (loc === 'best' && p.kind === 'line') {
      let bestLoc = 'upper right', bestHits = Infinity;
      for (const name of ['upper right', 'upper left', 'lower left', 'lower right']) {
        const [cx, cy] = corners[name];
        let hits = 0;
        for (const s of p.series) {
          const n = Math.min(s.x.length, s.y.length);
          const stride = Math.max(1, Math.floor(n / 500));
          for (let k = 0; k < n; k += stride) {
            const px = X(s.x[k]), py = Y(s.y[k]);
            if (px >= cx && px <= cx + legend.w && py >= cy && py <= cy + legend.h) hits++;
          }
        }
        if (hits < bestHits) {
          bestHits = hits;
          bestLoc = name;
        }
      }
      [lx, ly] = corners[bestLoc];
    } else [lx, ly] = corners[loc === 'best' ? 'upper right' : loc];
    out.push(drawLegend(legend, lx, ly));
  }
  return out.join('\n');
}

function hmapVmax(p: HeatmapPanel): number {
  if (p.vmax !== undefined) return p.vmax;
  let mx = -Infinity;
  for (let i = 0; i < p.data.length; i++) if (Number.isFinite(p.data[i]) && p.data[i] > mx) mx = p.data[i];
  return Number.isFinite(mx) && mx > (p.vmin ?? 0) ? mx : (p.vmin ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------------------
// Figure

/** The figure as an SVG document (`width * dpi` x `height * dpi` pixels, laid out in points). */
export function figureToSvg(fig: Figure): string {
  const dpi = fig.dpi ?? 100;
  const W = fig.width * 72, H = fig.height * 72;
  const fs = fig.fontSize ?? 11;
  const pad = fig.pad ?? 1.08 * fs;
  const n = fig.panels.length;
  const cols = fig.cols ?? (fig.rows ? Math.ceil(n / fig.rows) : Math.max(1, n));
  const rows = fig.rows ?? Math.max(1, Math.ceil(n / cols));
  const ctx: Ctx = { fs, clipId: 0, defs: [] };
  let top = pad;
  const parts: string[] = [];
  if (fig.title) {
    parts.push(text(W / 2, pad + 1.2 * fs, fig.title, 1.2 * fs, { anchor: 'middle' }));
    top += 1.6 * fs;
  }
  const gap = pad;
  const cw = (W - 2 * pad - (cols - 1) * gap) / cols;
  const ch = (H - top - pad - (rows - 1) * gap) / rows;
  fig.panels.forEach((p, i) => {
    const r = Math.floor(i / cols), c = i % cols;
    parts.push(`<g>${renderPanel(p, { x: pad + c * (cw + gap), y: top + r * (ch + gap), w: cw, h: ch }, ctx)}</g>`);
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.round(fig.width * dpi)}" height="${Math.round(fig.height * dpi)}" viewBox="0 0 ${n2(W)} ${n2(H)}" font-family="${FONT}">`,
    `<defs>${ctx.defs.join('')}</defs>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

/** Rasterize an SVG document to a PNG file. */
export async function svgToPng(svg: string, path: string): Promise<void> {
  await sharp(Buffer.from(svg)).png().toFile(path);
}

/** Render a figure straight to a PNG file. */
export async function saveFigure(fig: Figure, path: string): Promise<void> {
  await svgToPng(figureToSvg(fig), path);
}
