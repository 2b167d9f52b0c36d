import { describe, expect, it } from 'vitest';
import { ConfusionMatrix } from '../../src/yolo/confusion-matrix.js';

const A = [0, 0, 10, 10];
const B = [100, 100, 120, 120];
const C = [200, 200, 230, 230];
const FAR = [400, 400, 410, 410];

/** matrix as rows [predicted][true], background last */
const rows = (cm: ConfusionMatrix) => Array.from({ length: cm.nc + 1 }, (_, i) => Array.from(cm.matrix.subarray(i * (cm.nc + 1), (i + 1) * (cm.nc + 1))));

describe('ConfusionMatrix (detect)', () => {
  it('counts correct, confused, missed (background row) and spurious (background column) detections', () => {
    const cm = new ConfusionMatrix(['a', 'b', 'c']);
    cm.processBatch(
      // A: right class; B: predicted b for a true a; C: below the 0.25 threshold (ignored); FAR: nothing there
      { boxes: [...A, ...B, ...C, ...FAR], conf: [0.9, 0.8, 0.2, 0.7], cls: [0, 1, 2, 2] },
      { boxes: [...A, ...B, ...C], cls: [0, 0, 2] },
    );
    expect(rows(cm)).toEqual([
      [1, 0, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 1, 0],
    ]);
  });

  it('images without targets count every confident detection as background FP; without detections every target as FN', () => {
    const cm = new ConfusionMatrix(2);
    cm.processBatch({ boxes: [...A, ...B], conf: [0.5, 0.1], cls: [1, 0] }, { boxes: [], cls: [] });
    cm.processBatch({ boxes: [], conf: [], cls: [] }, { boxes: [...A, ...B], cls: [0, 0] });
    expect(rows(cm)).toEqual([
      [0, 0, 0],
      [0, 0, 1],
      [2, 0, 0],
    ]);
  });

  it("the validator's conf 0.001 means 0.25; another explicit conf is used as given", () => {
    const cm = new ConfusionMatrix(1);
    const det = { boxes: A, conf: [0.2], cls: [0] };
    const gt = { boxes: A, cls: [0] };
    cm.processBatch(det, gt, 0.001);
    expect(rows(cm)).toEqual([[0, 0], [1, 0]]);
    cm.reset();
    cm.processBatch(det, gt, 0.1);
    expect(rows(cm)).toEqual([[1, 0], [0, 0]]);
  });

  it('IoU must exceed 0.45; two detections on one target: the higher IoU matches, the other is a background FP', () => {
    const cm = new ConfusionMatrix(1, { iouThres: 0.5 });
    // IoU exactly 0.5 is not > 0.5
    cm.processBatch({ boxes: [0, 0, 10, 20], conf: [0.9], cls: [0] }, { boxes: A, cls: [0] });
    expect(rows(cm)).toEqual([[0, 1], [1, 0]]);
    const cm2 = new ConfusionMatrix(1);
    cm2.processBatch({ boxes: [0, 0, 10, 8, 0, 0, 10, 10], conf: [0.9, 0.8], cls: [0, 0] }, { boxes: A, cls: [0] });
    expect(rows(cm2)).toEqual([[1, 1], [0, 0]]);
  });

  it('tp/fp per class and column normalization', () => {
    const cm = new ConfusionMatrix(['a', 'b']);
    cm.processBatch(
      { boxes: [...A, ...B, ...C, ...FAR], conf: [0.9, 0.9, 0.9, 0.9], cls: [0, 0, 1, 1] },
      { boxes: [...A, ...B, ...C], cls: [0, 1, 1] },
    );
    const { tp, fp } = cm.tpFp();
    expect(Array.from(tp)).toEqual([1, 1]);
    expect(Array.from(fp)).toEqual([1, 1]);
    const n = cm.normalized();
    for (let j = 0; j < 2; j++) {
      let s = 0;
      for (let i = 0; i < 3; i++) s += n[i * 3 + j];
      expect(s).toBeCloseTo(1, 8);
    }
    expect(cm.get(0, 1)).toBe(1); // predicted a, true b
  });
});
