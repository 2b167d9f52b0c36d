import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { loadDatasetYaml } from '../../src/data/dataset-yaml.js';
import { listSplit } from '../../src/data/sources.js';
import { UserError } from '../../src/errors.js';
import { makeCleanDataset, removeTempDirs, tempDir, writeJpeg } from './make-dataset.js';
import { SHARED } from '../helpers/shared.js';

afterAll(removeTempDirs);

function yamlIn(dir: string, text: string, name = 'd.yaml'): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

function error(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error('expected a UserError');
}

describe('dataset yaml', () => {
  it('reads the shipped coco8 and coco128 yamls (relative path resolved against the yaml folder)', () => {
    const c8 = loadDatasetYaml(`${SHARED}/data/coco8/coco8.yaml`);
    expect(c8.root).toMatch(/shared\/data\/coco8$/);
    expect(c8.nc).toBe(80);
    expect(c8.names[0]).toBe('person');
    expect(c8.names[79]).toBe('toothbrush');
    expect(c8.splits.train).toEqual([{ kind: 'dir', path: join(c8.root, 'images', 'train'), spec: 'images/train' }]);
    expect(c8.splits.test).toBeUndefined();
    expect(listSplit(c8, 'val')).toHaveLength(4);
    const c128 = loadDatasetYaml(`${SHARED}/data/coco128/coco128.yaml`);
    expect(listSplit(c128, 'train')).toHaveLength(128);
  });

  it('accepts names as a list or a map, lists of sources, .txt lists and nc', async () => {
    const { root } = await makeCleanDataset(4);
    writeFileSync(join(root, 'list.txt'), './images/train/im000.jpg\nimages/train/im001.jpg\n\n# comment\n');
    mkdirSync(join(root, 'more'), { recursive: true });
    await writeJpeg(join(root, 'more', 'x.png'), 20, 20);
    const f = yamlIn(root, `path: .\ntrain: [list.txt, more]\nval: images/train\nnc: 2\nnames: {0: cat, 1: dog}\n`);
    const c = loadDatasetYaml(f);
    expect(c.names).toEqual(['cat', 'dog']);
    expect(c.splits.train!.map((s) => s.kind)).toEqual(['list', 'dir']);
    expect(listSplit(c, 'train').map((i) => i.imFile.slice(root.length + 1))).toEqual(['images/train/im000.jpg', 'images/train/im001.jpg', 'more/x.png']);
    const c2 = loadDatasetYaml(yamlIn(root, `train: images/train\nvalidation: images/train\nnames: [a, b]\n`, 'e.yaml'));
    expect(c2.root).toBe(root);
    expect(c2.splits.val).toHaveLength(1);
  });

  it('reports malformed yaml with file and line', () => {
    const dir = tempDir();
    const e = error(() => loadDatasetYaml(yamlIn(dir, 'train: images\nnames: [a, b\nval: x\n')));
    expect(e.message).toMatch(/d\.yaml:\d+:\d+: invalid yaml/);
    const dup = error(() => loadDatasetYaml(yamlIn(dir, 'train: .\nnames:\n  0: a\n  0: b\n')));
    expect(dup.message).toMatch(/d\.yaml:4:3: invalid yaml: Map keys must be unique/);
  });

  it('names what is missing or wrong', () => {
    const dir = tempDir();
    expect(error(() => loadDatasetYaml(join(dir, 'nope.yaml'))).message).toMatch(/dataset yaml not found: .*nope\.yaml/);
    expect(error(() => loadDatasetYaml(yamlIn(dir, 'train: .\n'))).message).toMatch(/missing `names`/);
    expect(error(() => loadDatasetYaml(yamlIn(dir, '- a\n- b\n'))).message).toMatch(/must be a mapping/);
    expect(error(() => loadDatasetYaml(yamlIn(dir, 'names: [a]\n'))).message).toMatch(/no `train`, `val` or `test`/);
    expect(error(() => loadDatasetYaml(yamlIn(dir, 'train: .\nnc: 3\nnames: [a, b]\n'))).message).toMatch(/d\.yaml:2: `nc: 3` disagrees with the 2 entries/);
    expect(error(() => loadDatasetYaml(yamlIn(dir, 'train: .\nnames: {0: a, 2: b}\n'))).message).toMatch(/keys must be the class ids 0\.\.1/);
    expect(error(() => loadDatasetYaml(yamlIn(dir, 'path: no/such/root\ntrain: .\nnames: [a]\n'))).message).toMatch(/d\.yaml:1: dataset root `path: no\/such\/root` not found/);
    const c = loadDatasetYaml(yamlIn(dir, 'train: images/missing\nnames: [a]\n'));
    expect(error(() => listSplit(c, 'train')).message).toMatch(/`train: images\/missing`: .*images\/missing does not exist/);
    expect(error(() => listSplit(c, 'val')).message).toMatch(/no `val` split/);
    mkdirSync(join(dir, 'empty'));
    const c3 = loadDatasetYaml(yamlIn(dir, 'train: empty\nnames: [a]\n'));
    expect(error(() => listSplit(c3, 'train')).message).toMatch(/no images found for split `train` in .*empty/);
  });

  it('reads COCO JSON annotations', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'images', 'val'), { recursive: true });
    mkdirSync(join(dir, 'annotations'));
    await writeJpeg(join(dir, 'images', 'val', 'a.jpg'), 100, 50);
    await writeJpeg(join(dir, 'images', 'val', 'b.jpg'), 40, 40);
    const coco = {
      images: [
        { id: 1, file_name: 'a.jpg', width: 100, height: 50 },
        { id: 2, file_name: 'b.jpg', width: 40, height: 40 },
      ],
      annotations: [
        { id: 10, image_id: 1, category_id: 18, bbox: [10, 5, 20, 10], iscrowd: 0 },
        { id: 11, image_id: 1, category_id: 1, bbox: [0, 0, 50, 50], iscrowd: 1 },
        { id: 12, image_id: 1, category_id: 1, bbox: [50, 25, 50, 25] },
      ],
      categories: [
        { id: 1, name: 'person' },
        { id: 18, name: 'dog' },
      ],
    };
    writeFileSync(join(dir, 'annotations', 'instances_val.json'), JSON.stringify(coco));
    const c = loadDatasetYaml(yamlIn(dir, 'val: annotations/instances_val.json\n'));
    expect(c.names).toEqual(['person', 'dog']);
    const ds = await loadDataset(c, 'val', { log: null });
    expect(ds.report.summary).toMatchObject({ images: 2, found: 1, empty: 1, corrupt: 0, instances: 2 });
    const a = ds.entries[0];
    expect(Array.from(a.cls)).toEqual([1, 0]);
    expect(Array.from(a.bboxes)).toEqual(Array.from(new Float32Array([0.2, 0.2, 0.2, 0.2, 0.75, 0.75, 0.5, 0.5])));
    expect(ds.report.labelCache.path).toBe(join(dir, 'annotations', 'instances_val.cache'));
    // Explicit images folder, names from the yaml mapped by name.
    const c2 = loadDatasetYaml(yamlIn(dir, 'val: {annotations: annotations/instances_val.json, images: images/val}\nnames: [cat, dog, person]\n', 'e.yaml'));
    const ds2 = await loadDataset(c2, 'val', { log: null, labelCache: false });
    expect(Array.from(ds2.entries[0].cls)).toEqual([1, 2]);
    // A category the names do not have is an error of that image.
    const c3 = loadDatasetYaml(yamlIn(dir, 'val: annotations/instances_val.json\nnames: [dog]\n', 'f.yaml'));
    const ds3 = await loadDataset(c3, 'val', { log: null, labelCache: false });
    expect(ds3.report.summary.corrupt).toBe(1);
    expect(ds3.report.problems[0]).toMatchObject({ kind: 'class-id', annotation: 12 });
  });
});
