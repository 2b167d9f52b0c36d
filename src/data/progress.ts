/**
 * A one-line progress bar on stderr: `label  42% ━━━━━━╺━━━━  54/128  91.3/s  eta 1s`.
 * Drawn only when enabled (default: stderr is a TTY), redrawn at most 10 times a second.
 */

export interface Progress {
  tick(n?: number): void;
  /** Replaces the text after the counts (e.g. running totals). */
  note(text: string): void;
  done(summary?: string): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** Draw the bar; default: `process.stderr.isTTY`. */
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const enabled = options.enabled ?? Boolean(stream.isTTY);
  const start = performance.now();
  let count = 0;
  let extra = '';
  let lastDraw = 0;
  let finished = false;
  const render = (final: boolean): void => {
    const elapsed = (performance.now() - start) / 1000;
    const total = options.total;
    const frac = total > 0 ? Math.min(1, count / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '━'.repeat(filled) + (filled < width ? '╺' + '─'.repeat(width - filled - 1) : '');
    const rate = elapsed > 0 ? count / elapsed : 0;
    const eta = rate > 0 && !final ? `  eta ${Math.ceil((total - count) / rate)}s` : final ? `  ${elapsed.toFixed(1)}s` : '';
    const line = `${options.label}  ${String(Math.round(frac * 100)).padStart(3)}% ${bar}  ${count}/${total}  ${rate.toFixed(1)}/s${eta}${extra ? `  ${extra}` : ''}`;
    stream.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
  };
  return {
    tick(n = 1) {
      count += n;
      if (!enabled || finished) return;
      const now = performance.now();
      if (now - lastDraw >= 100 || count >= options.total) {
        lastDraw = now;
        render(false);
      }
    },
    note(text: string) {
      extra = text;
    },
    done(summary?: string) {
      if (finished) return;
      finished = true;
      if (summary !== undefined) extra = summary;
      if (enabled) render(true);
    },
  };
}
