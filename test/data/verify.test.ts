import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { loadDataset } from '../../src/data/dataset.js';
import { loadDatasetYaml } from '../../src/data/dataset-yaml.js';
import { decodeImage } from '../../src/data/image.js';
import { LABEL_CACHE_VERSION } from '../../src/data/label-cache.js';
import { checkLabelText, labelPathFor } from '../../src/data/labels.js';
import type { PlantedDataset } from './make-dataset.js';
import { makeCleanDataset, makePlantedDataset, removeTempDirs } from './make-dataset.js';

afterAll(removeTempDirs);

describe('verification on planted defects', () => {
  let planted: PlantedDataset;
  let ds: Dataset;
  beforeAll(async () => {
    planted = await makePlantedDataset();
    ds = await loadDataset(loadDatasetYaml(planted.yaml), 'train', { log: null });
  });

  const problemsOf = (name: string) => ds.report.problems.filter((p) => basename(p.file).startsWith(name.split('.')[0] + '.'));

  it('counts found / missing / empty / corrupt', () => {
    expect(ds.report.summary).toMatchObject({ images: 22, found: 11, missing: 1, empty: 1, corrupt: 9, usable: 13, duplicatesRemoved: 1 });
    const usable = ds.entries.map((e) => basename(e.imFile)).sort();
    expect(usable).toEqual(
      ['dups.jpg', 'empty.jpg', 'exif.jpg', 'good.jpg', 'good2.png', 'gray.png', 'gray16.png', 'missing.jpg', 'trailing.jpg', 'palette.png', 'poly.jpg', 'rgb16.png', 'rgba.png'].sort(),
    );
  });

  it('names each image problem', () => {
    const kind = (f: string) => problemsOf(f).map((p) => `${p.severity}:${p.kind}`);
    expect(kind('truncated.jpg')).toEqual(['error:truncated']);
    expect(kind('zero.jpg')).toEqual(['error:zero-byte']);
    expect(kind('text.jpg')).toEqual(['error:not-an-image']);
    expect(problemsOf('text.jpg')[0].message).toContain('hello');
    expect(kind('tiny.png')).toEqual(['error:too-small']);
    expect(kind('trailing.jpg')).toEqual(['warning:no-end-marker']);
  });

  it('names each label problem with its line', () => {
    const find = (stem: string) => problemsOf(stem).filter((p) => p.file.endsWith('.txt'));
    expect(find('cols4')).toMatchObject([{ kind: 'columns', line: 2, severity: 'error' }]);
    expect(find('nonnum')).toMatchObject([{ kind: 'non-numeric', line: 1 }]);
    expect(find('nonnum')[0].message).toContain('"abc"');
    expect(find('range')).toMatchObject([{ kind: 'out-of-range', line: 2 }]);
    expect(find('badcls')).toMatchObject([{ kind: 'class-id', line: 1 }]);
    expect(find('badcls')[0].message).toContain('0..2');
    expect(find('polybad')).toMatchObject([{ kind: 'columns', line: 1 }]);
    expect(find('dups')).toMatchObject([{ kind: 'duplicate', line: 3, severity: 'warning' }]);
    expect(find('missing')).toMatchObject([{ kind: 'missing-label', severity: 'info' }]);
    expect(find('empty')).toMatchObject([{ kind: 'empty-label', severity: 'info' }]);
  });

  it('keeps the labels of usable images (duplicates dropped, polygons boxed)', () => {
    const entry = (name: string) => ds.entries.find((e) => basename(e.imFile) === name)!;
    expect(Array.from(entry('dups.jpg').cls)).toEqual([0, 1]);
    expect(Array.from(entry('poly.jpg').bboxes)).toEqual(Array.from(new Float32Array([0.3, 0.4, 0.4, 0.4])));
    expect(entry('missing.jpg').cls.length).toBe(0);
  });

  it('records sizes after EXIF orientation and decodes every colour type to 8-bit RGB', async () => {
    const exif = ds.entries.find((e) => basename(e.imFile) === 'exif.jpg')!;
    expect(exif.shape).toEqual([60, 40]);
    const decoded = await decodeImage(exif.imFile);
    expect([decoded.height, decoded.width]).toEqual([60, 40]);
    for (const name of ['gray.png', 'rgba.png', 'gray16.png', 'rgb16.png', 'palette.png']) {
      const e = ds.entries.find((x) => basename(x.imFile) === name)!;
      const img = await decodeImage(e.imFile);
      expect([img.height, img.width, img.data.length]).toEqual([30, 40, 30 * 40 * 3]);
    }
    // 16-bit grey 0..59950 maps onto 8 bits: the last pixel is bright, not wrapped.
    const g16 = await decodeImage(join(planted.root, 'images', 'train', 'gray16.png'));
    expect(g16.data[g16.data.length - 1]).toBeGreaterThan(200);
    expect(g16.data[0]).toBe(g16.data[1]);
  });

  it('never fails the whole split for broken files, but does when none is usable', async () => {
    const { root } = planted;
    const only = join(root, 'broken.yaml');
    writeFileSync(join(root, 'broken.txt'), ['images/train/zero.jpg', 'images/train/text.jpg'].join('\n'));
    writeFileSync(only, 'path: .\ntrain: broken.txt\nnames: [a, b, c]\n');
    await expect(loadDataset(loadDatasetYaml(only), 'train', { log: null, labelCache: false })).rejects.toThrow(/no usable images/);
    const report = await loadDataset(loadDatasetYaml(only), 'train', { log: null, labelCache: false, requireImages: false });
    expect(report.report.summary.corrupt).toBe(2);
  });
});

describe('label cache', () => {
  it('re-verifies an image whose label changed without changing size, and only that one', async () => {
    const { yaml, root } = await makeCleanDataset(6);
    const config = loadDatasetYaml(yaml);
    const first = await loadDataset(config, 'train', { log: null });
    expect(first.report.labelCache).toMatchObject({ path: join(root, 'labels', 'train.cache'), verified: 6, reused: 0, saved: true });
    const cache = JSON.parse(readFileSync(join(root, 'labels', 'train.cache'), 'utf8'));
    expect(cache.version).toBe(LABEL_CACHE_VERSION);

    const again = await loadDataset(config, 'train', { log: null });
    expect(again.report.labelCache).toMatchObject({ verified: 0, reused: 6, saved: false });

    // Same byte size, different class: the reference's size-based hash would miss this edit.
    const file = labelPathFor(first.entries[0].imFile);
    const text = readFileSync(file, 'utf8');
    const edited = text.replace(/^0 /, '2 ');
    expect(edited.length).toBe(text.length);
    expect(edited).not.toBe(text);
    writeFileSync(file, edited);
    const after = await loadDataset(config, 'train', { log: null });
    expect(after.report.labelCache).toMatchObject({ verified: 1, reused: 5, saved: true });
    expect(after.entries[0].cls[0]).toBe(2);
  });

  it('is discarded for another class count', async () => {
    const { yaml, root } = await makeCleanDataset(3);
    await loadDataset(loadDatasetYaml(yaml), 'train', { log: null });
    writeFileSync(yaml, `path: ${root}\ntrain: images/train\nnames: [a, b, c, d]\n`);
    const ds = await loadDataset(loadDatasetYaml(yaml), 'train', { log: null });
    expect(ds.report.labelCache.verified).toBe(3);
  });
});

describe('label rows', () => {
  it('accepts the reference tolerance and clips boxes that reach past the edge', () => {
    const r = checkLabelText('0 1.005 0.5 0.2 0.2\n1 0.5 -0.005 0.1 0.1\n', 'x.txt', 2);
    expect(r.fatal).toBe(false);
    expect(r.cls).toEqual([0, 1]);
    // x range [0.905, 1.105] clipped to [0.905, 1]
    expect(r.boxes[0]).toBeCloseTo(0.9525, 6);
    expect(r.boxes[2]).toBeCloseTo(0.095, 6);
    expect(r.problems.filter((p) => p.kind === 'out-of-range').map((p) => p.severity)).toEqual(['warning', 'warning']);
  });

  it('rejects non-integer classes, NaN and hex', () => {
    expect(checkLabelText('0.5 0.5 0.5 0.2 0.2\n', 'x.txt', 2).problems[0].kind).toBe('class-id');
    expect(checkLabelText('0 nan 0.5 0.2 0.2\n', 'x.txt', 2).problems[0].kind).toBe('non-numeric');
    expect(checkLabelText('0 0x1 0.5 0.2 0.2\n', 'x.txt', 2).problems[0].kind).toBe('non-numeric');
  });

  it('drops zero-size boxes with a warning', () => {
    const r = checkLabelText('0 0.5 0.5 0 0.2\n1 0.5 0.5 0.1 0.1\n', 'x.txt', 2);
    expect(r.fatal).toBe(false);
    expect(r.cls).toEqual([1]);
    expect(r.problems[0]).toMatchObject({ kind: 'zero-size', line: 1, severity: 'warning' });
  });

  it('finds labels by replacing the last images component', () => {
    expect(labelPathFor('/d/images/x/images/train/a.b.jpg')).toBe('/d/images/x/labels/train/a.b.txt');
    expect(labelPathFor('/d/pics/a.png')).toBe('/d/pics/a.txt');
  });
});
