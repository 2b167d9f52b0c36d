import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runDatasetCheck, runDatasetShow } from '../../src/cli/dataset.js';
import { UserError } from '../../src/errors.js';
import { makePlantedDataset, removeTempDirs, tempDir } from './make-dataset.js';
import { SHARED } from '../helpers/shared.js';

afterAll(removeTempDirs);

/** Runs fn with stdout and stderr captured. */
async function capture(fn: () => Promise<void>): Promise<{ out: string; err: string; error?: unknown }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    await fn();
    return { out, err };
  } catch (error) {
    return { out, err, error };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('yolo-wgpu dataset check / show', () => {
  beforeAll(() => {
    // coco8's own folder is read-only: keep its label cache in a temp dir.
    process.env.YOLO_WGPU_CACHE_DIR = tempDir('yolo-wgpu-cache-');
  });
  afterEach(() => vi.restoreAllMocks());

  it('prints the summary and each problem with file and line', async () => {
    const { yaml } = await makePlantedDataset();
    const { out, error } = await capture(() => runDatasetCheck({ data: yaml, split: 'train' }));
    expect(error).toBeUndefined();
    expect(out).toMatch(/train\s+22\s+11\s+1\s+1\s+9\s+13/);
    expect(out).toMatch(/error\s+labels\/train\/badcls\.txt:1: class 7 not in names \(0\.\.2\)/);
    expect(out).toMatch(/error\s+labels\/train\/cols4\.txt:2: 4 columns/);
    expect(out).toMatch(/warning images\/train\/trailing\.jpg: /);
    expect(out).toMatch(/error\s+images\/train\/zero\.jpg: empty file \(0 bytes\)/);
    expect(out).toMatch(/1 without a label file \(background\): labels\/train\/missing\.txt/);
    const strict = await capture(() => runDatasetCheck({ data: yaml, split: 'train', strict: true }));
    expect(strict.error).toBeInstanceOf(UserError);
  });

  it('--json prints one JSON document with the same data', async () => {
    const { yaml } = await makePlantedDataset();
    const { out, error } = await capture(() => runDatasetCheck({ data: yaml, json: true }));
    expect(error).toBeUndefined();
    const doc = JSON.parse(out);
    expect(doc.usable).toBe(true);
    expect(doc.splits.map((s: { split: string }) => s.split)).toEqual(['train', 'val']);
    expect(doc.splits[0].summary).toMatchObject({ found: 11, missing: 1, empty: 1, corrupt: 9 });
    expect(doc.splits[0].problems.find((p: { kind: string }) => p.kind === 'duplicate')).toMatchObject({ line: 3, severity: 'warning' });
  });

  it('fails with a clear message when nothing is usable, or the yaml is broken', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.jpg'), '');
    writeFileSync(join(dir, 'd.yaml'), 'train: .\nnames: [x]\n');
    const r = await capture(() => runDatasetCheck({ data: join(dir, 'd.yaml'), json: true }));
    expect(JSON.parse(r.out).usable).toBe(false);
    expect(r.error).toBeInstanceOf(UserError);
    expect((r.error as Error).message).toMatch(/no usable images in `train`/);
    writeFileSync(join(dir, 'bad.yaml'), 'train: [.\n');
    const b = await capture(() => runDatasetCheck({ data: join(dir, 'bad.yaml') }));
    expect((b.error as Error).message).toMatch(/bad\.yaml:\d+:\d+: invalid yaml/);
  });

  it('checks coco8 and writes a grid of augmented samples', async () => {
    const { out, error } = await capture(() => runDatasetCheck({ data: `${SHARED}/data/coco8/coco8.yaml` }));
    expect(error).toBeUndefined();
    expect(out).toMatch(/train\s+4\s+4\s+0\s+0\s+0\s+4\s+13/);
    expect(out).toMatch(/val\s+4\s+4\s+0\s+0\s+0\s+4\s+17/);
    const png = join(tempDir(), 'show.png');
    const show = await capture(() =>
      runDatasetShow({ data: `${SHARED}/data/coco8/coco8.yaml`, n: '4', augment: true, out: png, imgsz: '320', seed: '0', epoch: '0', tile: '160' }),
    );
    expect(show.error).toBeUndefined();
    expect(show.out.trim()).toBe(png);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([2 * 160 + 3 * 4, 2 * 176 + 3 * 4]);
  });
});
