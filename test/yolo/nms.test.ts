import { describe, expect, it } from 'vitest';
import { argsortDescending, nmsBoxes, nonMaxSuppression, nonMaxSuppressionWithIndices, type NmsOptions } from '../../src/yolo/nms.js';

interface Anchor {
  /** centre x, y, w, h */
  box: [number, number, number, number];
  scores: number[];
  extra?: number[];
}

/** Detector output (1, 4 + nc + extra, A), channel-major, from a list of anchors. */
function pred(anchors: Anchor[], nc: number, extra = 0): { data: Float32Array; shape: [number, number, number] } {
  const A = anchors.length, C = 4 + nc + extra;
  const data = new Float32Array(C * A);
  anchors.forEach((a, i) => {
    a.box.forEach((v, k) => (data[k * A + i] = v));
    a.scores.forEach((v, c) => (data[(4 + c) * A + i] = v));
    (a.extra ?? []).forEach((v, e) => (data[(4 + nc + e) * A + i] = v));
  });
  return { data, shape: [1, C, A] };
}

function run(anchors: Anchor[], nc: number, opts: NmsOptions = {}) {
  const { data, shape } = pred(anchors, nc);
  const r = nonMaxSuppressionWithIndices(data, shape, opts)[0];
  const rows: number[][] = [];
  for (let i = 0; i < r.count; i++) rows.push(Array.from(r.dets.subarray(i * 6, i * 6 + 6)));
  return { rows, idx: Array.from(r.indices) };
}

// two heavily overlapping boxes (IoU 0.81) and one far away
const A0: Anchor['box'] = [50, 50, 20, 20];
const A1: Anchor['box'] = [51, 51, 20, 20];
const FAR: Anchor['box'] = [200, 200, 20, 20];

describe('non_max_suppression', () => {
  it('decodes xywh to xyxy and returns rows [x1, y1, x2, y2, conf, cls] by decreasing confidence', () => {
    const { rows, idx } = run([{ box: FAR, scores: [0.3, 0.6] }, { box: A0, scores: [0.9, 0.1] }], 2);
    expect(rows).toEqual([
      [40, 40, 60, 60, Math.fround(0.9), 0],
      [190, 190, 210, 210, Math.fround(0.6), 1],
    ]);
    expect(idx).toEqual([1, 0]);
  });

  it('suppresses an overlapping box of the same class, keeps one of another class (class-aware)', () => {
    const same = run([{ box: A0, scores: [0.9, 0] }, { box: A1, scores: [0.8, 0] }], 2);
    expect(same.idx).toEqual([0]);
    const diff = run([{ box: A0, scores: [0.9, 0] }, { box: A1, scores: [0, 0.8] }], 2);
    expect(diff.idx).toEqual([0, 1]);
  });

  it('agnostic NMS suppresses across classes', () => {
    const r = run([{ box: A0, scores: [0.9, 0] }, { box: A1, scores: [0, 0.8] }, { box: FAR, scores: [0, 0.7] }], 2, { agnostic: true });
    expect(r.idx).toEqual([0, 2]);
  });

  it('confidence threshold is strict, IoU threshold suppresses only above it', () => {
    const atConf = run([{ box: A0, scores: [0.25, 0] }], 2, { confThres: Math.fround(0.25) });
    expect(atConf.rows.length).toBe(0);
    const above = run([{ box: A0, scores: [0.26, 0] }], 2);
    expect(above.rows.length).toBe(1);
    // IoU exactly 0.5: [0,0,10,10] vs [0,0,10,20] (centres 5,5 and 5,10)
    const half: Anchor[] = [{ box: [5, 5, 10, 10], scores: [0.9] }, { box: [5, 10, 10, 20], scores: [0.8] }];
    expect(run(half, 1, { iouThres: 0.5 }).idx).toEqual([0, 1]);
    expect(run(half, 1, { iouThres: 0.49 }).idx).toEqual([0]);
  });

  it('max_det keeps the most confident detections', () => {
    const anchors: Anchor[] = Array.from({ length: 10 }, (_, i) => ({ box: [i * 100 + 10, 10, 20, 20], scores: [0.1 + 0.08 * i] }));
    const r = run(anchors, 1, { maxDet: 3, confThres: 0.01 });
    expect(r.idx).toEqual([9, 8, 7]);
  });

  it('max_nms caps the boxes entering NMS (by score)', () => {
    const anchors: Anchor[] = Array.from({ length: 10 }, (_, i) => ({ box: [i * 100 + 10, 10, 20, 20], scores: [0.1 + 0.08 * i] }));
    expect(run(anchors, 1, { maxNms: 4, confThres: 0.01 }).idx).toEqual([9, 8, 7, 6]);
  });

  it('ties in score are broken by anchor index (stable): the earlier anchor wins and comes first', () => {
    const tie = run([{ box: FAR, scores: [0.5] }, { box: A1, scores: [0.7] }, { box: A0, scores: [0.7] }], 1);
    expect(tie.idx).toEqual([1, 0]); // anchors 1 and 2 overlap with equal score: 1 is kept, 2 suppressed
    const apart = run([{ box: FAR, scores: [0.7] }, { box: A0, scores: [0.7] }], 1);
    expect(apart.idx).toEqual([0, 1]);
  });

  it('multi-label emits every class above the threshold for one box; best-class by default', () => {
    const anchors: Anchor[] = [{ box: A0, scores: [0.9, 0.6, 0.1] }];
    expect(run(anchors, 3).rows.map((r) => r[5])).toEqual([0]);
    const ml = run(anchors, 3, { multiLabel: true });
    expect(ml.rows.map((r) => r[5])).toEqual([0, 1]);
    expect(ml.idx).toEqual([0, 0]);
  });

  it('class filter', () => {
    const r = run([{ box: A0, scores: [0.9, 0] }, { box: FAR, scores: [0, 0.8] }], 2, { classes: [1] });
    expect(r.idx).toEqual([1]);
  });

  it('empty input and nothing above the threshold give empty results for every image', () => {
    expect(nonMaxSuppression(new Float32Array(0), [2, 6, 0])).toEqual([new Float32Array(0), new Float32Array(0)]);
    const { data } = pred([{ box: A0, scores: [0.1, 0.2] }], 2);
    const two = new Float32Array(data.length * 2);
    two.set(data);
    two.set(data, data.length);
    const out = nonMaxSuppression(two, [2, 6, 1]);
    expect(out.map((o) => o.length)).toEqual([0, 0]);
  });

  it('batches, the row layout (B, A, C) and extra channels carried through', () => {
    const anchors: Anchor[] = [
      { box: A0, scores: [0.9, 0], extra: [7, 8] },
      { box: A1, scores: [0.8, 0], extra: [1, 2] },
      { box: FAR, scores: [0, 0.6], extra: [3, 4] },
    ];
    const { data, shape } = pred(anchors, 2, 2);
    const cf = nonMaxSuppression(data, shape, { nc: 2 })[0];
    expect(Array.from(cf)).toEqual([40, 40, 60, 60, Math.fround(0.9), 0, 7, 8, 190, 190, 210, 210, Math.fround(0.6), 1, 3, 4]);
    const [, C, A] = shape;
    const rows = new Float32Array(C * A);
    for (let c = 0; c < C; c++) for (let a = 0; a < A; a++) rows[a * C + c] = data[c * A + a];
    expect(nonMaxSuppression(rows, shape, { nc: 2, layout: 'rows' })[0]).toEqual(cf);
    const batch = new Float32Array(2 * data.length);
    batch.set(data, data.length); // image 0: all zeros
    const out = nonMaxSuppression(batch, [2, C, A], { nc: 2 });
    expect(out[0].length).toBe(0);
    expect(out[1]).toEqual(cf);
  });

  it('nmsBoxes on already-decoded boxes (torchvision batched_nms)', () => {
    const boxes = [0, 0, 10, 10, 1, 1, 11, 11, 0, 0, 10, 10, 50, 50, 60, 60];
    const scores = [0.5, 0.9, 0.8, 0.7];
    expect(Array.from(nmsBoxes(boxes, scores, 0.5))).toEqual([1, 3]);
    expect(Array.from(nmsBoxes(boxes, scores, 0.5, { classes: [0, 0, 1, 0] }))).toEqual([1, 2, 3]);
    expect(Array.from(nmsBoxes(boxes, scores, 0.5, { classes: [0, 0, 1, 0], agnostic: true }))).toEqual([1, 3]);
    expect(Array.from(nmsBoxes(boxes, scores, 0.5, { maxDet: 1 }))).toEqual([1]);
  });

  it('8400 anchors x 80 classes: a few milliseconds per image', () => {
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const nc = 80, A = 8400, C = 84;
    const data = new Float32Array(C * A);
    for (let a = 0; a < A; a++) {
      const near = rnd() < 0.3;
      const ox = Math.floor(rnd() * 20) * 30;
      data[a] = near ? ox + rnd() * 4 : rnd() * 640;
      data[A + a] = near ? ox + rnd() * 4 : rnd() * 640;
      data[2 * A + a] = 20 + rnd() * 80;
      data[3 * A + a] = 20 + rnd() * 80;
      for (let c = 0; c < nc; c++) data[(4 + c) * A + a] = (near && c === ox % nc ? rnd() : rnd() ** 16 * 0.002);
    }
    const predict = { confThres: 0.25 };
    const val = { confThres: 0.001, iouThres: 0.7, multiLabel: true };
    // CPU time of this process, so that other processes on the machine do not count
    const cpuMs = (fn: () => void, reps: number) => {
      for (let i = 0; i < 3; i++) fn();
      const t = process.cpuUsage();
      for (let i = 0; i < reps; i++) fn();
      const u = process.cpuUsage(t);
      return (u.user + u.system) / 1000 / reps;
    };
    const predictMs = cpuMs(() => nonMaxSuppression(data, [1, C, A], predict), 10);
    const valMs = cpuMs(() => nonMaxSuppression(data, [1, C, A], val), 5);
    expect(nonMaxSuppression(data, [1, C, A], val)[0].length).toBe(300 * 6);
    expect(predictMs).toBeLessThan(30); // ~2-4 ms typical; loose bound for slow CI machines
    expect(valMs).toBeLessThan(80); // ~5-10 ms typical (28k candidates)
  });
});

describe('argsortDescending', () => {
  it('is a stable descending sort with NaN last and -0 == +0, for small and large inputs', () => {
    expect(Array.from(argsortDescending(new Float32Array([0.5, NaN, 0.7, 0.5, -1, -0, 0, Infinity])))).toEqual([7, 2, 0, 3, 5, 6, 4, 1]);
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const v = new Float32Array(5000).map(() => Math.round(rnd() * 40) / 10 - 2);
    const ref = Array.from(v.keys()).sort((a, b) => v[b] - v[a] || a - b);
    expect(Array.from(argsortDescending(v))).toEqual(ref);
    expect(argsortDescending(new Float32Array(0)).length).toBe(0);
  });
});
