import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { convGeometry } from '../../src/kernels/conv2d.js';
import { convShapeKey, readConvVariantTable } from '../../src/kernels/conv-variants.js';

const dir = mkdtempSync(join(tmpdir(), 'conv-variants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tableFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('convolution variant tables', () => {
  const key = convShapeKey('conv2dInputGrad', 'f16', convGeometry([64, 80, 80, 64], [128, 3, 3, 64], { stride: 2, padding: 1 }));

  it('keys a shape by operation, dtype and the whole geometry', () => {
    expect(key).toBe('conv2dInputGrad:f16:64x80x80x64>128:k3x3:s2x2:p1x1:g1');
  });

  it('reads a table of shape keys to variants', () => {
    const table = { [key]: 'sg:2x2:4x2:32/1', 'conv2d:f32:1x9x9x3>16:k3x3:s1x1:p1x1:g1': 'simt', 'conv2dWeightGrad:f16:2x9x9x8>8:k1x1:s1x1:p0x0:g1': '64x64:4x4:16' };
    expect(readConvVariantTable(tableFile('ok.json', JSON.stringify(table)))).toEqual(table);
  });

  it.each([
    ['broken.json', '{"conv2d', 'not a readable JSON file'],
    ['list.json', '["simt"]', 'expected a JSON object of convolution shape keys'],
    ['key.json', '{"conv2d:f16:64x160x160x32:k3x3": "simt"}', 'key "conv2d:f16:64x160x160x32:k3x3" is not a convolution shape key'],
    ['variant.json', `{"${key}": 3}`, `"${key}" maps to 3, expected a kernel variant`],
  ])('rejects %s with an error naming the file and what is wrong', (name, text, message) => {
    const path = tableFile(name, text);
    expect(() => readConvVariantTable(path)).toThrow(UserError);
    expect(() => readConvVariantTable(path)).toThrow(`${path}: ${message}`);
  });
});
