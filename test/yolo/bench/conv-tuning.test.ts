import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.js';
import { checkConvVariantTable } from '../../../src/kernels/conv-variant-check.js';
import { parseConvShapeKey } from '../../../src/kernels/conv-variants.js';
import { tileCandidates } from '../../../src/kernels/conv-tile-candidates.js';
import { tuneConvs } from '../../../src/yolo/bench/conv-tuning.js';
import { testEngine } from '../../helpers/gpu.js';
import { withEmulatedSubgroupMatrix } from '../../helpers/subgroup-matrix-emulation.js';

// A small network whose convolutions have 32 and 64 channels (tensor cores by default) and 2 (SIMT): quick under emulation.
const dir = mkdtempSync(join(tmpdir(), 'conv-tuning-'));
const yamlFile = join(dir, 'small.yaml');
writeFileSync(yamlFile, 'nc: 2\nbackbone:\n  - [-1, 1, Conv, [32, 3, 2]]\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, C2f, [64, True]]\nhead:\n  - [[-1], 1, Detect, [nc]]\n');

describe('tuneConvs', () => {
  let engine: Engine;
  afterAll(() => {
    engine?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('times SIMT, the defaults and a candidate table inside the step; keeps per shape the fastest; restores the engine', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16 || !engine.features.subgroups || !engine.features.timestampQuery) return;
    const emulated = withEmulatedSubgroupMatrix(engine, { M: 16, N: 16, K: 16 });
    const e = emulated.engine;
    try {
      const r = await tuneConvs(e, { model: yamlFile, batch: 2, imgsz: 32, precision: 'f16', checkpoint: 'none', warmup: 1, maxTables: 1 });
      expect(r.tables.tried).toBe(1);
      expect(r.tables.built).toBeGreaterThan(1);
      // every operation of the step's convolutions (the frozen DFL conv has no weight gradient, the first no input gradient)
      for (const op of ['conv2d:', 'conv2dInputGrad:', 'conv2dWeightGrad:']) expect(r.shapes.filter((t) => t.key.startsWith(op)).length).toBeGreaterThan(4);
      for (const s of r.shapes) {
        const shape = parseConvShapeKey(s.key)!;
        expect(shape.dtype).toBe('f16');
        // the first candidate (when the device takes it) or one of the two references
        expect(['default', 'simt', tileCandidates(shape.op, shape.cin, shape.cout, shape.groups)[0]]).toContain(s.variant);
        expect(s.ms).toBeLessThanOrEqual(Math.min(s.simtMs, s.defaultMs));
        // every time it was picked from, the first change of the default tiles among them on ungrouped shapes
        expect(s.times).toMatchObject({ simt: s.simtMs, default: s.defaultMs });
        expect(s.ms).toBe(Math.min(...Object.values(s.times)));
        expect(Object.keys(s.times)).toEqual(['simt', 'default', ...(shape.groups === 1 ? ['sg/1@1'] : [])]);
        expect(s.key in r.table).toBe(s.variant !== 'default');
      }
      expect(() => checkConvVariantTable(e, r.table, 'tuned')).not.toThrow();
      for (const t of r.totals) expect(t.tuned).toBeLessThanOrEqual(Math.min(t.simt, t.default) + 1e-9);
      expect(e.convKernels).toBe('tensor-cores');
      expect(e.convVariants).toEqual({});
    } finally {
      emulated.release();
    }
  });
});
