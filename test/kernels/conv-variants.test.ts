import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { convGeometry } from '../../src/kernels/conv2d.js';
import { convShapeKey, readConvVariantTable } from '../../src/kernels/conv-variants.js';
import { checkConvVariantTable } from '../../src/kernels/conv-variant-check.js';
import { testEngine } from '../helpers/gpu.js';
import { withEmulatedSubgroupMatrix } from '../helpers/subgroup-matrix-emulation.js';

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

  it('checks a table against the device before a run: the source, key and why, for tiles it cannot run', async () => {
    const real = await testEngine();
    const fwd = 'conv2d:f16:2x9x9x8>8:k3x3:s1x1:p1x1:g1';
    const wgrad = 'conv2dWeightGrad:f16:2x9x9x8>8:k3x3:s1x1:p1x1:g1';
    const check = (engine: typeof real, table: Record<string, string>) => () => checkConvVariantTable(engine, table, 'tuned.json');
    expect(check(real, { [fwd]: 'simt', [wgrad]: '64x64:4x4:16' })).not.toThrow();
    expect(check(real, { [fwd]: 'sg:4x2:4x4:32' })).toThrow(UserError);
    expect(check(real, { [fwd]: 'sg:4x2:4x4:32' })).toThrow(`tuned.json: "${fwd}" -> "sg:4x2:4x4:32": conv2d: variant "sg:4x2:4x4:32" needs an f16 input on a device with f16 subgroup matrices`);
    expect(check(real, { [wgrad]: '24x64:4x4:16' })).toThrow(`tuned.json: "${wgrad}" -> "24x64:4x4:16": conv2dWeightGrad: variant "24x64:4x4:16" has an unsupported tile`);
    if (!real.features.shaderF16 || !real.features.subgroups) return;
    const emulated = withEmulatedSubgroupMatrix(real, { M: 16, N: 16, K: 16 });
    try {
      expect(check(emulated.engine, { [fwd]: 'sg:2x2:4x2:32', [wgrad]: 'sg:2x4:2x2:32', [key]: 'sg' })).not.toThrow();
      expect(check(emulated.engine, { [fwd]: 'sg:4x4:1x1:32' })).toThrow(`"${fwd}" -> "sg:4x4:1x1:32": conv2d: variant "sg:4x4:1x1:32": 1 to 8 subgroups`);
      expect(check(emulated.engine, { [wgrad]: 'sg:2x4:8x8:32/2' })).toThrow(/conv2dWeightGrad: variant "sg:2x4:8x8:32\/2": needs \d+ bytes of workgroup memory/);
    } finally {
      emulated.release();
    }
  });
});
