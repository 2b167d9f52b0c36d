import { describe, expect, it } from 'vitest';
import { bool, choice, float, fraction, int, nullable, parseText, smartValue, text } from '../../src/train/option-types.js';

describe('option types', () => {
  it('smartValue reads text as the reference does: True/False, None, numbers, lists, else text', () => {
    expect(smartValue('True')).toBe(true);
    expect(smartValue('false')).toBe(false);
    expect(smartValue('None')).toBe(null);
    expect(smartValue('16')).toBe(16);
    expect(smartValue('-1')).toBe(-1);
    expect(smartValue('5e-4')).toBe(0.0005);
    expect(smartValue('.5')).toBe(0.5);
    expect(smartValue('[0, 1, 2]')).toEqual([0, 1, 2]);
    expect(smartValue("['a', b]")).toEqual(['a', 'b']);
    expect(smartValue('[]')).toEqual([]);
    expect(smartValue('coco8.yaml')).toBe('coco8.yaml');
    expect(smartValue('1e')).toBe('1e');
  });

  it('ints, floats and fractions check their ranges; ints reject fractions', () => {
    const epochs = int({ min: 1 });
    expect(parseText(epochs, '3')).toBe(3);
    expect(parseText(epochs, '0')).toBeUndefined();
    expect(parseText(epochs, '2.5')).toBeUndefined();
    expect(parseText(epochs, 'three')).toBeUndefined();
    expect(epochs.allowed).toBe('an integer >= 1');
    expect(parseText(float(), '-12.5')).toBe(-12.5);
    expect(parseText(float(), 'nan')).toBeUndefined();
    expect(parseText(fraction, '0.25')).toBe(0.25);
    expect(parseText(fraction, '1.5')).toBeUndefined();
    expect(fraction.allowed).toBe('a number between 0 and 1');
  });

  it('bools, text, choices and nullable values', () => {
    expect(parseText(bool, 'TRUE')).toBe(true);
    expect(parseText(bool, '1')).toBeUndefined();
    expect(bool.flagValue).toBe(true);
    expect(parseText(text, '123')).toBe('123'); // text is verbatim, never a number
    expect(parseText(text, '')).toBeUndefined();
    const opt = choice(['auto', 'SGD', 'AdamW'] as const);
    expect(parseText(opt, 'adamw')).toBe('AdamW');
    expect(parseText(opt, 'Adam')).toBeUndefined();
    expect(opt.check('sgd')).toBe('SGD');
    expect(opt.allowed).toBe('one of auto, SGD, AdamW');
    const device = nullable(text);
    expect(parseText(device, 'None')).toBe(null);
    expect(parseText(device, 'NVIDIA H100')).toBe('NVIDIA H100');
    expect(device.check(null)).toBe(null);
    expect(device.check(3)).toBeUndefined();
  });
});
