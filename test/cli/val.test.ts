import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVal, type ValOptions, type ValReport } from '../../src/cli/val.js';
import { UserError } from '../../src/errors.js';
import { capture } from '../helpers/capture.js';
import { FIXTURES, SHARED } from '../helpers/shared.js';

const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-val-'));
beforeAll(() => {
  process.env.YOLO_WGPU_CACHE_DIR = join(tmp, 'cache'); // coco8 is read-only: its label cache goes here
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const options = (o: Partial<ValOptions>): ValOptions => ({
  weights: `${FIXTURES}/v8n320-coco128.pt`,
  data: `${SHARED}/data/coco8/coco8.yaml`,
  imgsz: '320',
  batch: '32',
  conf: '0.001',
  iou: '0.7',
  maxDet: '300',
  workers: '0',
  project: join(tmp, 'runs'),
  ...o,
});

describe('yolo-wgpu val on coco8', () => {
  let json: { out: string; err: string; error?: unknown };

  beforeAll(async () => {
    json = await capture(() => runVal(options({ json: true, plots: true })));
  });

  it('--json prints the metrics document only: P, R, mAP50, mAP50-95, fitness, per class, speed', () => {
    expect(json.error).toBeUndefined();
    const r = JSON.parse(json.out) as ValReport;
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['P', 'R', 'mAP50', 'mAP50-95', 'fitness', 'per_class', 'speed_ms']));
    expect([r.images, r.instances]).toEqual([4, 17]); // coco8 val: 4 images, 17 boxes
    expect(r.fitness).toBeCloseTo(0.1 * r.mAP50 + 0.9 * r['mAP50-95'], 12);
    for (const k of ['P', 'R', 'mAP50', 'mAP50-95'] as const) expect(r[k]).toBeGreaterThanOrEqual(0);
    expect(r.mAP50).toBeGreaterThanOrEqual(r['mAP50-95']);
    expect(Object.keys(r.per_class).sort()).toEqual(['dog', 'elephant', 'horse', 'person', 'potted plant', 'umbrella']);
    expect(Object.values(r.per_class).reduce((s, c) => s + c.instances, 0)).toBe(17);
    expect(r.per_class.person).toMatchObject({ images: 3, instances: 10 });
    // the umbrella is found where the label puts it: AP50 near 1 needs boxes mapped back to the right pixels
    expect(r.per_class.umbrella.mAP50).toBeGreaterThan(0.9);
    expect(Object.keys(r.speed_ms)).toEqual(['preprocess', 'inference', 'postprocess']);
    expect(json.err).toMatch(/^ +all +4 +17 /m); // the table goes to stderr with --json
  });

  it('--plots writes the PR curve and the confusion matrices into an exp folder', () => {
    for (const f of ['BoxPR_curve.png', 'confusion_matrix.png', 'confusion_matrix_normalized.png']) expect(existsSync(join(tmp, 'runs', 'exp', f))).toBe(true);
  });

  it('prints the reference table and speed line without --json; rounds imgsz up to the stride', async () => {
    const { out, err, error } = await capture(() => runVal(options({ imgsz: '300', batch: '2' })));
    expect(error).toBeUndefined();
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('                 Class     Images  Instances      Box(P          R      mAP50  mAP50-95)');
    expect(lines[1]).toMatch(/^ {19}all {10}4 {9}17 /);
    expect(lines.filter((l) => /^ +(person|dog|horse|elephant|umbrella|potted plant) /.test(l))).toHaveLength(6);
    expect(lines.at(-1)).toMatch(/^Speed: [\d.]+ms preprocess, [\d.]+ms inference, 0\.0ms loss, [\d.]+ms postprocess per image$/);
    expect(err).toMatch(/--imgsz 300 must be a multiple of the stride 32, using 320/);
  });

  it('rejects bad options, missing files and bad dataset yamls with messages naming them', async () => {
    writeFileSync(join(tmp, 'broken.yaml'), 'names: [a\n  - b: c\n');
    writeFileSync(join(tmp, 'no-names.yaml'), `path: ${SHARED}/data/coco8\nval: images/val\n`);
    for (const [o, message] of [
      [{ iou: 'x' }, /--iou must be a number between 0 and 1/],
      [{ batch: '-1' }, /--batch must be a positive integer/],
      [{ workers: '1.5' }, /--workers must be a non-negative integer/],
      [{ data: '/nonexistent.yaml' }, /dataset yaml not found/],
      [{ data: join(tmp, 'broken.yaml') }, /broken\.yaml:1:\d+: invalid yaml/],
      [{ data: join(tmp, 'no-names.yaml') }, /no-names\.yaml: missing `names`/],
      [{ weights: '/nonexistent/w.pt' }, /\/nonexistent\/w\.pt: cannot read weights/],
      [{ weights: `${FIXTURES}/11n-rand.weights.safetensors` }, /does not say which model it holds/],
    ] as const) {
      const { error } = await capture(() => runVal(options(o)));
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(message);
    }
  });
});
