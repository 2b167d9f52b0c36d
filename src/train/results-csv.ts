/**
 * `results.csv` exactly as the reference writes it (`BaseTrainer.save_metrics`): a header of the
 * column names joined by commas, then one row per epoch, every value `%.6g`. Validation metrics
 * and losses are rounded to 5 decimals first, as the reference's validator returns them.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { DET_METRIC_KEYS } from '../yolo/metrics.js';
import { pyFormatF, pyFormatG } from '../yolo/val-table.js';

export const LOSS_NAMES = ['box_loss', 'cls_loss', 'dfl_loss'] as const;

export const RESULTS_COLUMNS = [
  'epoch',
  'time',
  ...LOSS_NAMES.map((n) => `train/${n}`),
  ...DET_METRIC_KEYS,
  ...LOSS_NAMES.map((n) => `val/${n}`),
  'lr/pg0',
  'lr/pg1',
  'lr/pg2',
] as const;

type Three = readonly [number, number, number];

export interface EpochResult {
  /** 1-based. */
  epoch: number;
  /** Seconds since training started. */
  time: number;
  /** Mean training losses of the epoch (box, cls, dfl). */
  trainLoss: Three;
  /** Precision, recall, mAP50, mAP50-95 of the last validation (zeros before one). */
  metrics: readonly [number, number, number, number];
  valLoss: Three;
  /** Learning rates of pg0, pg1, pg2 at the epoch's last batch. */
  lr: Three;
}

/** Python's round(x, 5): the exact binary value rounded half to even. */
const round5 = (x: number) => (Number.isFinite(x) ? Number(pyFormatF(x, 5)) : x);

export function formatResultsRow(r: EpochResult): string {
  const values = [r.epoch, r.time, ...r.trainLoss, ...r.metrics.map(round5), ...r.valLoss.map(round5), ...r.lr];
  return values.map((v) => pyFormatG(v, 6)).join(',');
}

export class ResultsCsv {
  constructor(readonly path: string) {}

  append(r: EpochResult): void {
    const header = existsSync(this.path) ? '' : `${RESULTS_COLUMNS.join(',')}\n`;
    appendFileSync(this.path, `${header}${formatResultsRow(r)}\n`);
  }

  /**
   * Keeps only the rows of epochs up to `epoch` (1-based): a resumed run continues after its
   * checkpoint, and rows written after that checkpoint (a crash before the next one) are dropped.
   */
  truncateAfter(epoch: number): void {
    if (!existsSync(this.path)) return;
    const [header, ...rows] = readFileSync(this.path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const kept = rows.filter((line) => Number(line.split(',')[0]) <= epoch);
    if (kept.length < rows.length) writeFileSync(this.path, [header, ...kept].map((l) => `${l}\n`).join(''));
  }
}

/** A `%g` cell back to a number (Python spells the specials nan, inf, -inf). */
function parseCell(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan') return NaN;
  if (t === 'inf' || t === '-inf') return t === 'inf' ? Infinity : -Infinity;
  return t === '' ? NaN : Number(t);
}

/** A results.csv read back: column names and numeric rows. */
export function readResultsCsv(path: string): { columns: string[]; rows: number[][] } {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new UserError(`${path}: empty results file, expected a header line`);
  const columns = lines[0].split(',').map((c) => c.trim());
  const rows = lines.slice(1).map((line, i) => {
    const texts = line.split(',');
    const cells = texts.map(parseCell);
    const bad = texts.findIndex((t, k) => Number.isNaN(cells[k]) && t.trim().toLowerCase() !== 'nan');
    if (texts.length !== columns.length || bad >= 0) {
      throw new UserError(`${path}: line ${i + 2} should hold ${columns.length} numbers (${columns.join(', ')}), got '${line}'`);
    }
    return cells;
  });
  return { columns, rows };
}
