import { describe, expect, it } from 'vitest';
import { fraction, positiveInt, strideMultiple } from '../../src/cli/options.js';
import { UserError } from '../../src/errors.js';

describe('option values', () => {
  it('positive integers and [0, 1] thresholds, else a UserError naming the option and the value', () => {
    expect(positiveInt('16', '--batch')).toBe(16);
    for (const v of ['0', '-2', '1.5', 'x', '']) expect(() => positiveInt(v, '--batch')).toThrow(UserError);
    expect(fraction('0', '--conf')).toBe(0);
    expect(fraction('0.25', '--conf')).toBe(0.25);
    expect(fraction('1', '--conf')).toBe(1);
    for (const v of ['1.01', '-0.1', 'x', '', ' ']) expect(() => fraction(v, '--conf')).toThrow(`--conf must be a number between 0 and 1, got ${JSON.stringify(v)}`);
  });

  it('image sizes round up to the stride with a warning, as check_imgsz', () => {
    const warnings: string[] = [];
    expect(strideMultiple(640, 32, '--imgsz', (l) => warnings.push(l))).toBe(640);
    expect(warnings).toEqual([]);
    expect(strideMultiple(641, 32, '--imgsz', (l) => warnings.push(l))).toBe(672);
    expect(warnings).toEqual(['warning: --imgsz 641 must be a multiple of the stride 32, using 672']);
  });
});
