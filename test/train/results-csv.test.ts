import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { formatResultsRow, readResultsCsv, ResultsCsv, RESULTS_COLUMNS, type EpochResult } from '../../src/train/results-csv.js';

const dir = mkdtempSync(join(tmpdir(), 'results-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER =
  'epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2';

function row(epoch: number, base = 1): EpochResult {
  return { epoch, time: 10 * epoch, trainLoss: [base, base / 2, base / 4], metrics: [0.5, 0.25, 0.125, 0.0625], valLoss: [base, base, base], lr: [0.01, 0.01, 0.01] };
}

describe('results.csv', () => {
  it("has the reference's columns", () => {
    expect(RESULTS_COLUMNS.join(',')).toBe(HEADER);
  });

  it('formats rows as %.6g, validation values rounded to 5 decimals (half to even) first', () => {
    const r: EpochResult = {
      epoch: 1,
      time: 12.3456789,
      trainLoss: [1.234567891, 2.5, 0.1],
      metrics: [0.015625, 0.123456789, 0.5, 0.333333333],
      valLoss: [1.0000049, 2, NaN],
      lr: [0.0001, 0.000099, 0.07],
    };
    expect(formatResultsRow(r)).toBe('1,12.3457,1.23457,2.5,0.1,0.01562,0.12346,0.5,0.33333,1,2,nan,0.0001,9.9e-05,0.07');
  });

  it('writes the header once, appends rows, reads them back and drops rows past a resumed checkpoint', () => {
    const path = join(dir, 'results.csv');
    const csv = new ResultsCsv(path);
    for (let e = 1; e <= 4; e++) csv.append(row(e, e));
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n')[0]).toBe(HEADER);
    expect(text.split('\n')[1]).toBe('1,10,1,0.5,0.25,0.5,0.25,0.125,0.0625,1,1,1,0.01,0.01,0.01');
    const back = readResultsCsv(path);
    expect(back.columns).toEqual([...RESULTS_COLUMNS]);
    expect(back.rows.map((r) => r[0])).toEqual([1, 2, 3, 4]);
    expect(back.rows[3][2]).toBe(4);
    csv.truncateAfter(2);
    csv.append(row(3, 7));
    const again = readResultsCsv(path);
    expect(again.rows.map((r) => [r[0], r[2]])).toEqual([[1, 1], [2, 2], [3, 7]]);
  });

  it('reading a damaged file names the line', () => {
    const path = join(dir, 'bad.csv');
    writeFileSync(path, `${HEADER}\n1,2,3\n`);
    expect(() => readResultsCsv(path)).toThrow(UserError);
    expect(() => readResultsCsv(path)).toThrow(/bad\.csv: line 2 should hold 15 numbers/);
    writeFileSync(path, `${HEADER}\n${'x,'.repeat(14)}x\n`);
    expect(() => readResultsCsv(path)).toThrow(/line 2/);
  });
});
