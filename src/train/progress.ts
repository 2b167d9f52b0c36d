/**
 * The trainer's console lines, as the reference prints them (`BaseTrainer._do_train`):
 *
 * ```
 *       Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size
 *       1/100      2.42G      1.234      2.345      1.123        120        640: 100%|██████████| 8/8 [00:02<00:00,  3.05it/s]
 * ```
 *
 * every column `%11s`, losses, instances and size `%11.4g`. GPU_mem is the arena's exact peak
 * (the reference shows the caching allocator's reserved bytes) in GiB, `%.3g`.
 */
import { pyFormatF, pyFormatG } from '../yolo/val-table.js';
import { LOSS_NAMES } from './results-csv.js';

const col = (s: string) => s.padStart(11);

export function progressHeader(lossNames: readonly string[] = LOSS_NAMES): string {
  return ['Epoch', 'GPU_mem', ...lossNames, 'Instances', 'Size'].map(col).join('');
}

export interface ProgressValues {
  /** 0-based. */
  epoch: number;
  epochs: number;
  /** Peak GPU bytes. */
  memBytes: number;
  /** Running mean losses of the epoch so far. */
  losses: readonly number[];
  /** Boxes in the batch. */
  instances: number;
  /** Image width of the batch. */
  size: number;
}

export function progressLine(v: ProgressValues): string {
  const mem = `${pyFormatG(v.memBytes / 2 ** 30, 3)}G`;
  return [col(`${v.epoch + 1}/${v.epochs}`), col(mem), ...[...v.losses, v.instances, v.size].map((x) => pyFormatG(x, 4, 11))].join('');
}

/** tqdm's time format: mm:ss, or h:mm:ss from an hour on. */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${two(Math.floor(s / 60))}:${two(s % 60)}`;
}

/** tqdm's bar suffix for `done` of `total` batches after `elapsed` seconds: `: 100%|██████████| 8/8 [00:02<00:00,  3.05it/s]`. */
export function progressBar(done: number, total: number, elapsed: number): string {
  const frac = total > 0 ? done / total : 1;
  const filled = Math.floor(frac * 10);
  const bar = '█'.repeat(filled) + (filled < 10 ? ' '.repeat(10 - filled) : '');
  const rate = elapsed > 0 ? done / elapsed : 0;
  const remaining = rate > 0 ? (total - done) / rate : 0;
  const speed = rate >= 1 || rate === 0 ? `${pyFormatF(rate, 2, 5)}it/s` : `${pyFormatF(1 / rate, 2, 5)}s/it`;
  return `: ${pyFormatF(frac * 100, 0, 3)}%|${bar}| ${done}/${total} [${clock(elapsed)}<${clock(remaining)}, ${speed}]`;
}

/** The running mean of the loss items over an epoch's batches (the reference's `tloss`). */
export class LossMeter {
  private avg: number[] = [];
  private count = 0;

  add(items: readonly number[]): void {
    this.avg = this.count === 0 ? [...items] : this.avg.map((m, k) => (m * this.count + items[k]) / (this.count + 1));
    this.count++;
  }

  get mean(): number[] {
    return [...this.avg];
  }

  get batches(): number {
    return this.count;
  }
}

/** The closing line of a run. */
export function trainingDoneLine(epochsRun: number, seconds: number): string {
  return `${epochsRun} epochs completed in ${pyFormatF(seconds / 3600, 3)} hours.`;
}
