/**
 * YOLO label files: one row per object, `class x_center y_center width height` normalized to
 * [0, 1], or a polygon `class x1 y1 x2 y2 x3 y3 ...` (converted to its bounding box).
 *
 * Checks follow the reference's `verify_image_label` (tolerance 0.01, class id < nc,
 * duplicates removed with a warning) and add line numbers, integer class ids, zero-size
 * boxes (dropped with a warning) and boxes reaching past the image (clipped with a warning).
 * Any error skips the image; all of a file's problems are reported, not only the first.
 */
import { sep } from 'node:path';
import type { Problem } from './problems.js';

/** Tolerance on normalized coordinates, as the reference (values in [-0.01, 1.01] accepted). */
export const COORD_TOLERANCE = 0.01;

/** The label file of an image: last `/images/` path component replaced by `/labels/`, suffix `.txt`. */
export function labelPathFor(imFile: string): string {
  const sa = `${sep}images${sep}`;
  const sb = `${sep}labels${sep}`;
  const i = imFile.lastIndexOf(sa);
  const swapped = i >= 0 ? imFile.slice(0, i) + sb + imFile.slice(i + sa.length) : imFile;
  const dot = swapped.lastIndexOf('.');
  const slash = swapped.lastIndexOf(sep);
  return (dot > slash ? swapped.slice(0, dot) : swapped) + '.txt';
}

/** A row before checks: class and box (xywh normalized) or polygon points (normalized). */
export interface RawLabelRow {
  /** 1-based line number, or the annotation id for COCO JSON. */
  line: number;
  /** True when `line` is a COCO annotation id. */
  annotation?: boolean;
  cls: number;
  box?: [number, number, number, number];
  points?: number[];
}

export interface CheckedLabels {
  /** Class ids, one per kept row. */
  cls: number[];
  /** xywh normalized, 4 per kept row. */
  boxes: number[];
  problems: Problem[];
  /** True when an error makes the image unusable. */
  fatal: boolean;
  duplicates: number;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses the text of a label file into rows, reporting unparseable lines. */
export function parseLabelText(text: string, file: string): { rows: RawLabelRow[]; problems: Problem[] } {
  const rows: RawLabelRow[] = [];
  const problems: Problem[] = [];
  const lines = text.split(/\r?\n/);
  for (let li = 0; li < lines.length; li++) {
    const trimmed = lines[li].trim();
    if (trimmed === '') continue;
    const line = li + 1;
    const tokens = trimmed.split(/\s+/);
    const bad = tokens.findIndex((t) => !NUMBER.test(t));
    if (bad >= 0) {
      problems.push({
        file,
        line,
        kind: 'non-numeric',
        severity: 'error',
        message: `non-numeric value ${JSON.stringify(tokens[bad].slice(0, 40))} in column ${bad + 1}`,
      });
      continue;
    }
    const v = tokens.map(Number);
    if (v.length === 5) {
      rows.push({ line, cls: v[0], box: [v[1], v[2], v[3], v[4]] });
    } else if (v.length >= 7 && (v.length - 1) % 2 === 0) {
      rows.push({ line, cls: v[0], points: v.slice(1) });
    } else {
      problems.push({
        file,
        line,
        kind: 'columns',
        severity: 'error',
        message: `${v.length} columns, expected 5 (class x y w h) or a polygon (class x1 y1 x2 y2 x3 y3 ...)`,
      });
    }
  }
  return { rows, problems };
}

/** Validates rows against `nc` and the [0, 1] range; drops duplicates and zero-size boxes. */
export function checkLabelRows(rows: readonly RawLabelRow[], file: string, nc: number, initial: Problem[] = []): CheckedLabels {
  const problems = [...initial];
  const cls: number[] = [];
  const boxes: number[] = [];
  const seen = new Map<string, number>();
  let duplicates = 0;
  const lo = -COORD_TOLERANCE;
  const hi = 1 + COORD_TOLERANCE;
  let where: { line: number } | { annotation: number } = { line: 0 };
  const err = (_line: number, kind: Problem['kind'], message: string): void => {
    problems.push({ file, ...where, kind, severity: 'error', message });
  };
  const warn = (_line: number, kind: Problem['kind'], message: string): void => {
    problems.push({ file, ...where, kind, severity: 'warning', message });
  };
  for (const row of rows) {
    where = row.annotation ? { annotation: row.line } : { line: row.line };
    let ok = true;
    if (!Number.isInteger(row.cls)) {
      err(row.line, 'class-id', `class ${row.cls} is not an integer`);
      ok = false;
    } else if (row.cls < 0 || row.cls >= nc) {
      err(row.line, 'class-id', `class ${row.cls} not in names (0..${nc - 1})`);
      ok = false;
    }
    let x: number;
    let y: number;
    let w: number;
    let h: number;
    if (row.box) {
      [x, y, w, h] = row.box;
      const labels = ['x', 'y', 'width', 'height'];
      for (let k = 0; k < 4; k++) {
        const value = row.box[k];
        if (!(value >= lo && value <= hi)) {
          err(row.line, 'out-of-range', `${labels[k]} ${value} outside [0, 1] (coordinates must be normalized by the image size)`);
          ok = false;
          break;
        }
      }
    } else {
      const pts = row.points ?? [];
      let x1 = Infinity;
      let y1 = Infinity;
      let x2 = -Infinity;
      let y2 = -Infinity;
      for (let k = 0; k < pts.length; k += 2) {
        const px = pts[k];
        const py = pts[k + 1];
        if (!(px >= lo && px <= hi && py >= lo && py <= hi)) {
          err(row.line, 'out-of-range', `polygon point (${px}, ${py}) outside [0, 1] (coordinates must be normalized)`);
          ok = false;
          break;
        }
        x1 = Math.min(x1, px);
        y1 = Math.min(y1, py);
        x2 = Math.max(x2, px);
        y2 = Math.max(y2, py);
      }
      x = (x1 + x2) / 2;
      y = (y1 + y2) / 2;
      w = x2 - x1;
      h = y2 - y1;
    }
    if (!ok) continue;
    // Duplicates as the reference's np.unique on float32 rows.
    const key = [row.cls, x, y, w, h].map((n) => Math.fround(n)).join(' ');
    const first = seen.get(key);
    if (first !== undefined) {
      duplicates++;
      warn(row.line, 'duplicate', `duplicates ${row.annotation ? 'annotation' : 'line'} ${first}; dropped`);
      continue;
    }
    seen.set(key, row.line);
    if (!(w > 0 && h > 0)) {
      warn(row.line, 'zero-size', `zero-size box (width ${w}, height ${h}); dropped`);
      continue;
    }
    // Clip the box to the image; the reference clips later, during augmentation.
    const bx1 = Math.max(0, x - w / 2);
    const by1 = Math.max(0, y - h / 2);
    const bx2 = Math.min(1, x + w / 2);
    const by2 = Math.min(1, y + h / 2);
    const reach = Math.max(-(x - w / 2), -(y - h / 2), x + w / 2 - 1, y + h / 2 - 1);
    if (reach > COORD_TOLERANCE) {
      warn(row.line, 'out-of-range', `box reaches ${reach.toFixed(3)} past the image edge; clipped`);
    }
    if (!(bx2 > bx1 && by2 > by1)) {
      warn(row.line, 'zero-size', `box lies outside the image; dropped`);
      continue;
    }
    if (reach > 0) {
      x = (bx1 + bx2) / 2;
      y = (by1 + by2) / 2;
      w = bx2 - bx1;
      h = by2 - by1;
    }
    cls.push(row.cls);
    boxes.push(x, y, w, h);
  }
  return { cls, boxes, problems, fatal: problems.some((p) => p.severity === 'error'), duplicates };
}

/** Parses and checks a label file's text in one step. */
export function checkLabelText(text: string, file: string, nc: number): CheckedLabels {
  const { rows, problems } = parseLabelText(text, file);
  return checkLabelRows(rows, file, nc, problems);
}
