import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countsText, listSources, runPredict, type PredictOptions, type PredictResult } from '../../src/cli/predict.js';
import { decodeImage } from '../../src/data/image.js';
import { UserError } from '../../src/errors.js';
import { saveCheckpoint } from '../../src/yolo/checkpoint-format.js';
import { modelFromWeights } from '../../src/yolo/weights.js';
import { capture } from '../helpers/capture.js';
import { testEngine } from '../helpers/gpu.js';
import { FIXTURES, SHARED } from '../helpers/shared.js';

const images = `${SHARED}/data/images`;
const project = mkdtempSync(join(tmpdir(), 'yolo-wgpu-predict-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

const options = (o: Partial<PredictOptions>): PredictOptions => ({
  weights: `${FIXTURES}/v8n-coco128.pt`,
  source: images,
  imgsz: '640',
  conf: '0.05', // a weak detector: its best score on bus.jpg is ~0.1
  iou: '0.7',
  maxDet: '300',
  project,
  ...o,
});

function expectSane(r: PredictResult): void {
  const [h, w] = r.shape;
  let previous = Infinity;
  for (const d of r.detections) {
    const [x1, y1, x2, y2] = d.xyxy;
    expect(0 <= x1 && x1 < x2 && x2 <= w && 0 <= y1 && y1 < y2 && y2 <= h, `box ${d.xyxy} in a ${w}x${h} image`).toBe(true);
    expect(d.conf).toBeGreaterThan(0.05);
    expect(d.conf).toBeLessThanOrEqual(previous);
    previous = d.conf;
  }
}

describe('yolo-wgpu predict', () => {
  it('--json prints one JSON array: per image its source, [h, w] and detections; persons found on bus.jpg and zidane.jpg', async () => {
    const { out, err, error } = await capture(() => runPredict(options({ json: true })));
    expect(error).toBeUndefined();
    const results = JSON.parse(out) as PredictResult[];
    expect(results.map((r) => [r.source, r.shape])).toEqual([
      [`${images}/bus.jpg`, [1080, 810]],
      [`${images}/zidane.jpg`, [720, 1280]],
    ]);
    for (const r of results) {
      expectSane(r);
      expect(r.detections.length).toBeGreaterThan(0);
      expect(r.detections[0]).toMatchObject({ cls: 0, name: 'person' });
    }
    // people on bus.jpg are standing: taller than wide, and at least a tenth of the image high
    for (const d of results[0].detections.filter((k) => k.name === 'person')) {
      const [x1, y1, x2, y2] = d.xyxy;
      expect(y2 - y1).toBeGreaterThan(Math.max(x2 - x1, 108));
    }
    // the minimal-padding letterbox of the reference: 1080x810 -> 640x480, 720x1280 -> 384x640
    expect(err).toMatch(/image 1\/2 .*bus\.jpg: 640x480 \d+ persons?/);
    expect(err).toMatch(/image 2\/2 .*zidane\.jpg: 384x640 /);
    expect(err).toMatch(/Speed: [\d.]+ms preprocess, [\d.]+ms inference, [\d.]+ms postprocess per image at shape \(1, 3, 384, 640\)\n/);
  });

  it('--save draws the boxes on the original images in an incrementing exp folder; --half gives the f32 detections within 1e-2', async () => {
    const f32 = await capture(() => runPredict(options({ source: `${images}/bus.jpg`, imgsz: '320', save: true })));
    expect(f32.error).toBeUndefined();
    expect(f32.out).toMatch(/Results saved to .*exp\n/);
    const saved = join(project, 'exp', 'bus.jpg');
    const [original, drawn] = [await decodeImage(`${images}/bus.jpg`), await decodeImage(saved)];
    expect([drawn.width, drawn.height]).toEqual([original.width, original.height]);
    const d0 = f32.value![0].detections[0];
    const [x, y] = [Math.round(d0.xyxy[0]), Math.round((d0.xyxy[1] + d0.xyxy[3]) / 2)]; // on the box's left edge
    const at = (img: typeof original) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    expect(at(drawn)).not.toEqual(at(original));

    const half = await capture(() => runPredict(options({ source: `${images}/bus.jpg`, imgsz: '320', half: true, save: true })));
    expect(half.error).toBeUndefined();
    expect(existsSync(join(project, 'exp2', 'bus.jpg'))).toBe(true);
    const [a, b] = [f32.value![0].detections, half.value![0].detections];
    expect(b.map((d) => d.cls)).toEqual(a.map((d) => d.cls));
    b.forEach((d, i) => {
      expect(Math.abs(d.conf - a[i].conf)).toBeLessThan(1e-2);
      d.xyxy.forEach((v, k) => expect(Math.abs(v - a[i].xyxy[k])).toBeLessThan(1e-2 * 1080));
    });
  });

  it('takes our checkpoint as well as the Ultralytics .pt: the same detections', async () => {
    const model = modelFromWeights(await testEngine(), `${FIXTURES}/v8n-coco128.pt`);
    const ckpt = join(project, 'v8n-coco128.safetensors');
    await saveCheckpoint(ckpt, model);
    model.dispose();
    const one = { source: `${images}/bus.jpg`, imgsz: '320', json: true };
    const [pt, ours] = [await capture(() => runPredict(options(one))), await capture(() => runPredict(options({ ...one, weights: ckpt })))];
    expect(ours.error).toBeUndefined();
    expect(pt.value![0].detections.length).toBeGreaterThan(0);
    expect(ours.value).toEqual(pt.value);
  });

  it('rejects a missing source, a non-image file and bad thresholds with clear messages', async () => {
    for (const [o, message] of [
      [{ source: '/nonexistent/x.jpg' }, /--source \/nonexistent\/x\.jpg: no such file or folder/],
      [{ source: `${FIXTURES}/README.md` }, /not an image file/],
      [{ conf: '1.5' }, /--conf must be a number between 0 and 1, got "1.5"/],
      [{ maxDet: '0' }, /--max-det must be a positive integer/],
      [{ weights: '/nonexistent/w.pt' }, /\/nonexistent\/w\.pt: cannot read weights/],
    ] as const) {
      const { error } = await capture(() => runPredict(options(o)));
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('predict helpers', () => {
  it('a folder lists its images sorted, not recursively', () => {
    expect(listSources(images)).toEqual([`${images}/bus.jpg`, `${images}/zidane.jpg`]);
    expect(readdirSync(`${SHARED}/data/coco8`)).toContain('images'); // a folder of folders has no images itself
    expect(() => listSources(`${SHARED}/data/coco8`)).toThrow(/the folder has no image files/);
  });

  it('summarizes detections as the reference: counts by class id, plural s', () => {
    expect(countsText([5, 0, 0, 2], ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus'])).toBe('2 persons, 1 car, 1 bus');
    expect(countsText([], ['person'])).toBe('(no detections)');
  });
});
