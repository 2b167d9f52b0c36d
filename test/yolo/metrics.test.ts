import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ConfusionMatrix } from '../../src/yolo/confusion-matrix.js';
import { IOU_THRESHOLDS, linspaceF32, matchDetections, matchPredictions } from '../../src/yolo/match.js';
import { computeAp, MetricsAccumulator, npInterp, pairwiseSum, smooth } from '../../src/yolo/metrics.js';
import { saveValPlots } from '../../src/yolo/val-plots.js';
import { formatSpeedLine, formatValTable, pyFormatF, pyFormatG, valHeader } from '../../src/yolo/val-table.js';

/** Box [0, 0, w, 10]: its IoU with GT [0, 0, 10, 10] is w / 10. */
const narrow = (w: number) => [0, 0, w, 10];
const GT = [0, 0, 10, 10];
const far = [500, 500, 510, 510];
const ALL = (1 << 10) - 1;

describe('IoU thresholds and matching (match_predictions)', () => {
  it('IoU thresholds are torch.linspace(0.5, 0.95, 10) in float32', () => {
    expect(IOU_THRESHOLDS.length).toBe(10);
    IOU_THRESHOLDS.forEach((t, i) => expect(t).toBeCloseTo(0.5 + 0.05 * i, 6));
    expect(IOU_THRESHOLDS[0]).toBe(0.5);
    expect(IOU_THRESHOLDS[9]).toBe(Math.fround(0.95));
    expect(Array.from(linspaceF32(0, 1, 3))).toEqual([0, 0.5, 1]);
  });

  it('marks a detection per threshold by its IoU; the wrong class never matches', () => {
    // IoU 0.625 passes 0.50, 0.55, 0.60; IoU 0.825 passes 0.50 ... 0.80; exact IoU 0.5 passes 0.50 only
    const preds = [...narrow(6.25), ...narrow(8.25), ...narrow(5)];
    const gts = [...GT, ...GT, ...GT];
    const m = matchDetections(preds, [0, 1, 2], gts, [0, 1, 2]);
    expect(Array.from(m)).toEqual([0b111, 0b1111111, 0b1]);
    const wrong = matchDetections(narrow(10), [1], GT, [0]);
    expect(wrong[0]).toBe(0);
  });

  it('gives a target to the first (highest-confidence) detection whose best target it is, as the reference', () => {
    // det 0: IoU 0.6, det 1: IoU 0.925, same target. Reference: det 0 wins while it passes (0.50..0.60), then det 1.
    const m = matchDetections([...narrow(6.25), ...narrow(9.25)], [0, 0], GT, [0]);
    expect(m[0]).toBe(0b111);
    expect(m[1]).toBe(0b111111000); // 0.65 ... 0.90
  });

  it('a detection takes its highest-IoU target, leaving the other target to another detection', () => {
    const gts = [0, 0, 10, 10, 0, 0, 10, 8]; // det 0 overlaps both; best is target 1
    const preds = [0, 0, 10, 8.5, 0, 0, 10, 10];
    const m = matchDetections(preds, [0, 0], gts, [0, 0]);
    expect(m[0] & 1).toBe(1);
    expect(m[1] & 1).toBe(1);
    // with only target 0 left for both dets, the first detection takes it, the second is a duplicate
    const m2 = matchPredictions([0, 0], [0], new Float32Array([0.85, 1]));
    expect(m2[0] & 1).toBe(1);
    expect(m2[1] & 1).toBe(0);
  });

  it('no targets or no detections: all false', () => {
    expect(Array.from(matchDetections([...GT], [0], [], []))).toEqual([0]);
    expect(matchDetections([], [], GT, [0]).length).toBe(0);
  });
});

describe('AP, 101-point interpolation (compute_ap)', () => {
  it('np.interp semantics: rightmost bracket, exact hits, left/right values', () => {
    const xp = [0, 0.5, 0.5, 1], fp = [1, 0.8, 0.4, 0];
    expect(npInterp(0.5, xp, fp, 4)).toBe(0.4); // rightmost of the duplicates
    expect(npInterp(0.25, xp, fp, 4)).toBeCloseTo(0.9, 15);
    expect(npInterp(0.75, xp, fp, 4)).toBeCloseTo(0.2, 15);
    expect(npInterp(-1, xp, fp, 4, 7)).toBe(7);
    expect(npInterp(2, xp, fp, 4)).toBe(0);
  });

  it('numpy pairwise summation and the box filter', () => {
    const a = Array.from({ length: 300 }, (_, i) => 1 / (i + 1));
    expect(pairwiseSum(a)).toBeCloseTo(a.reduce((s, v) => s + v, 0), 12);
    const y = new Float64Array(1000).fill(0.3);
    y[500] = 101 * 0.3;
    const s = smooth(y, 0.1);
    expect(s[0]).toBeCloseTo(0.3, 12);
    expect(s[500]).toBeCloseTo(0.3 + 100 * 0.3 / 101, 12);
    expect(s[449]).toBeCloseTo(0.3, 12);
  });

  it('a full recall curve at precision 1 gives 0.995, not 1: the point at recall 1 is the 0 sentinel', () => {
    // mrec = [0, .5, 1, 1], envelope [1, 1, 1, 0]: 100 intervals, the last is (1 + 0) / 2 wide 0.01
    expect(computeAp([0.5, 1], [1, 1])).toBeCloseTo(0.995, 12);
  });
});

/** One image with one class-0 target per entry and detections [box, conf, cls]. */
function acc1(gts: number[][], dets: [number[], number, number][], extraGtCls?: number[]) {
  const a = new MetricsAccumulator();
  const order = dets.map((_, i) => i).sort((i, j) => dets[j][1] - dets[i][1]);
  a.addImage(
    { boxes: order.flatMap((i) => dets[i][0]), conf: order.map((i) => dets[i][1]), cls: order.map((i) => dets[i][2]) },
    { boxes: gts.flat(), cls: extraGtCls ?? gts.map(() => 0) },
  );
  return a;
}

describe('metrics on hand-made cases', () => {
  it('perfect detections: AP 0.995 at every threshold (the reference never reports 1), P = R = 1', () => {
    const g2 = [20, 20, 30, 30];
    const m = acc1([GT, g2], [[GT, 0.9, 0], [g2, 0.8, 0]]).compute(['a']);
    for (let j = 0; j < 10; j++) expect(m.allAp[j]).toBeCloseTo(0.995, 12);
    expect(m.map50).toBeCloseTo(0.995, 12);
    expect(m.map).toBeCloseTo(0.995, 12);
    expect(m.mp).toBe(1);
    expect(m.mr).toBe(1);
    expect(m.fitness).toBeCloseTo(0.995, 12);
    expect(Array.from(m.raw.tp)).toEqual([2]);
    expect(Array.from(m.raw.fp)).toEqual([0]);
  });

  it('all targets missed: AP 0', () => {
    const m = acc1([GT], [[far, 0.9, 0], [[300, 300, 320, 320], 0.5, 0]]).compute(['a']);
    expect(Array.from(m.allAp)).toEqual(new Array(10).fill(0));
    expect(m.mp).toBe(0);
    expect(m.mr).toBe(0);
    expect(m.fitness).toBe(0);
  });

  it('a duplicate between two true positives lowers the tail of the PR curve: AP = 0.01 (82 + 5/6)', () => {
    // TP (0.9), duplicate FP (0.8), TP (0.7) on 2 targets: recall .5 .5 1, precision 1 .5 2/3.
    // Envelope: 1 on [0, .5), 2/3 at .5 and on (.5, 1), 0 at recall 1 (sentinel). Trapezoids of width 0.01:
    // 49 x 1 + (1 + 2/3)/2 + 49 x 2/3 + (2/3 + 0)/2 = 82 + 5/6.
    const g2 = [20, 20, 30, 30];
    const m = acc1([GT, g2], [[GT, 0.9, 0], [GT, 0.8, 0], [g2, 0.7, 0]]).compute(['a']);
    const expected = 0.01 * (82 + 5 / 6);
    for (let j = 0; j < 10; j++) expect(m.allAp[j]).toBeCloseTo(expected, 12);
    // max (smoothed) F1 = 0.8 for every confidence below 0.7: P = 2/3, R = 1 there
    expect(m.p[0]).toBeCloseTo(2 / 3, 12);
    expect(m.r[0]).toBe(1);
    expect(m.raw.tp[0]).toBe(2);
    expect(m.raw.fp[0]).toBe(1);
    // the same duplicate after the last true positive changes nothing (recall is already 1)
    const late = acc1([GT, g2], [[GT, 0.9, 0], [g2, 0.8, 0], [GT, 0.7, 0]]).compute(['a']);
    expect(late.allAp[0]).toBeCloseTo(0.995, 12);
  });

  it('IoUs that pass at 0.5 but not at 0.75: AP50 0.995, AP75 0.375, AP50-95 0.4485', () => {
    // det A: IoU 0.625 (TP at 0.50-0.60), det B: IoU 0.825 (TP at 0.50-0.80); A ranks first.
    // 0.50-0.60: TP TP -> 0.995. 0.65-0.80: FP TP -> recall 0 .5, precision 0 .5: envelope .5 up to recall .5,
    // then the line to (1, 0): 0.25 + 0.125 = 0.375. 0.85-0.95: FP FP -> 0.
    const g2 = [20, 20, 30, 30];
    const bNarrow = [20, 20, 28.25, 30];
    const m = acc1([GT, g2], [[narrow(6.25), 0.9, 0], [bNarrow, 0.8, 0]]).compute(['a']);
    const expected = [0.995, 0.995, 0.995, 0.375, 0.375, 0.375, 0.375, 0, 0, 0];
    expected.forEach((v, j) => expect(m.allAp[j]).toBeCloseTo(v, 12));
    expect(m.map50).toBeCloseTo(0.995, 12);
    expect(m.raw.allAp[5]).toBeCloseTo(0.375, 12); // AP75 (threshold index 5)
    expect(m.map75).toBeCloseTo(0.375, 12);
    expect(m.map).toBeCloseTo(0.4485, 12);
    expect(m.fitness).toBeCloseTo(0.1 * 0.995 + 0.9 * 0.4485, 12);
  });

  it('wrong-class detections are false positives of a class without targets: excluded, target class AP 0', () => {
    const m = acc1([GT], [[GT, 0.9, 1]]).compute(['a', 'b']);
    expect(Array.from(m.apClassIndex)).toEqual([0]);
    expect(Array.from(m.allAp)).toEqual(new Array(10).fill(0));
    expect(m.map50).toBe(0);
  });

  it('classes with predictions but no targets are left out of the means; maps() fills them with mAP', () => {
    // class 0: perfect; class 1: only predictions; class 2: target missed
    const a = new MetricsAccumulator();
    a.addImage(
      { boxes: [...GT, ...far, ...[40, 40, 50, 50]], conf: [0.9, 0.8, 0.7], cls: [0, 1, 1] },
      { boxes: [...GT, ...[100, 100, 120, 120]], cls: [0, 2] },
    );
    const m = a.compute(['a', 'b', 'c']);
    expect(Array.from(m.apClassIndex)).toEqual([0, 2]);
    expect(m.map50).toBeCloseTo((0.995 + 0) / 2, 12);
    const maps = m.maps;
    expect(maps[0]).toBeCloseTo(0.995, 12);
    expect(maps[2]).toBe(0);
    expect(maps[1]).toBeCloseTo(m.map, 15);
    expect(Array.from(m.ntPerClass)).toEqual([1, 0, 1]);
    expect(Array.from(m.ntPerImage)).toEqual([1, 0, 1]);
  });

  it('no predictions at all: zeros everywhere; no targets at all: zeros and a warning row', () => {
    const a = new MetricsAccumulator();
    a.addImage({ boxes: [], conf: [], cls: [] }, { boxes: GT, cls: [0] });
    a.addImage({ boxes: [], conf: [], cls: [] }, { boxes: [], cls: [] });
    const m = a.compute(['a']);
    expect(m.seen).toBe(2);
    expect(m.meanResults()).toEqual([0, 0, 0, 0]);
    expect(m.fitness).toBe(0);
    const b = new MetricsAccumulator();
    b.addImage({ boxes: GT, conf: [0.5], cls: [0] }, { boxes: [], cls: [] });
    const e = b.compute(['a']);
    expect(e.apClassIndex.length).toBe(0);
    expect(e.meanResults()).toEqual([0, 0, 0, 0]);
    expect(formatValTable(e).join('\n')).toContain('no labels found');
    expect(e.resultsDict).toEqual({
      'metrics/precision(B)': 0,
      'metrics/recall(B)': 0,
      'metrics/mAP50(B)': 0,
      'metrics/mAP50-95(B)': 0,
      fitness: 0,
    });
  });
});

// A seeded random validation run. Expected values come from a numpy port of the reference's
// match_predictions / ap_per_class / ConfusionMatrix.process_batch (stable argsorts), run on the same data.
const GOLDEN = {
  allAp: [
    0.3652941818181818, 0.2966539366883117, 0.1992577751196172, 0.1485677056277056, 0.09949249011857708, 0.09949249011857708,
    0.059759236363636364, 0.01389781954887218, 0.0, 0.0, 0.49102349581313, 0.4209238394671893, 0.34671673600092484,
    0.18849803354540193, 0.10522206959706959, 0.0964903846153846, 0.018985528360528362, 0.009200095315904138, 0.0, 0.0,
    0.38698393295612254, 0.38698393295612254, 0.3390597479211413, 0.2251602809706258, 0.1335884457093622,
    0.08684371401044118, 0.04835408684546616, 0.016930221757807964, 0.008266339869281046, 0.0,
  ],
  p: [0.44939606960695216, 0.45996313834727204, 0.40860804341515217],
  r: [0.3793103448275862, 0.5714285714285714, 0.6713094046474732],
  cls: [0, 1, 2],
  mp: 0.4393224171231254,
  mr: 0.5406827736345435,
  map50: 0.4144338701958114,
  map: 0.15305488403717943,
  fitness: 0.17919278265304264,
  best: 250,
  cm: [12, 0, 0, 0, 12, 0, 21, 0, 0, 22, 1, 0, 25, 0, 31, 0, 0, 0, 0, 19, 16, 14, 10, 0, 0],
  ndet: 182,
};

function seededRun() {
  let seed = 2024;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const nc = 4;
  const acc = new MetricsAccumulator();
  const cm = new ConfusionMatrix(nc);
  const q = (v: number) => Math.round(v * 4) / 4; // coarse grid: many exact IoU ties
  for (let im = 0; im < 40; im++) {
    const ng = Math.floor(rnd() * 6);
    const gb: number[] = [], gc: number[] = [];
    for (let i = 0; i < ng; i++) {
      const x = q(rnd() * 100), y = q(rnd() * 100), w = q(5 + rnd() * 30), h = q(5 + rnd() * 30);
      gb.push(x, y, x + w, y + h);
      gc.push(Math.floor(rnd() * (nc - 1)));
    }
    const pb: number[] = [], pc: number[] = [], pf: number[] = [];
    for (let i = 0; i < ng; i++) {
      const k = Math.floor(rnd() * 3);
      for (let t = 0; t < k; t++) {
        const j = (v: number) => q(v + (rnd() - 0.5) * 8);
        pb.push(j(gb[4 * i]), j(gb[4 * i + 1]), j(gb[4 * i + 2]) + 1, j(gb[4 * i + 3]) + 1);
        pc.push(rnd() < 0.85 ? gc[i] : Math.floor(rnd() * nc));
        pf.push(Math.fround(Math.round(rnd() * 50) / 50));
      }
    }
    for (let i = 0; i < 2; i++) {
      const x = q(rnd() * 100), y = q(rnd() * 100);
      pb.push(x, y, x + 20, y + 20);
      pc.push(Math.floor(rnd() * nc));
      pf.push(Math.fround(Math.round(rnd() * 50) / 50));
    }
    const order = pf.map((_, i) => i).sort((a, b) => pf[b] - pf[a] || a - b);
    const preds = { boxes: order.flatMap((i) => pb.slice(4 * i, 4 * i + 4)), conf: order.map((i) => pf[i]), cls: order.map((i) => pc[i]) };
    const gts = { boxes: gb, cls: gc };
    acc.addImage(preds, gts);
    cm.processBatch(preds, gts, 0.001);
  }
  return { acc, cm };
}

describe('bit-exact against a numpy port of the reference', () => {
  it('AP per class and threshold, P, R, means, fitness, max-F1 index and confusion matrix', () => {
    const { acc, cm } = seededRun();
    expect(acc.numDetections).toBe(GOLDEN.ndet);
    const m = acc.compute(['c0', 'c1', 'c2', 'c3']);
    expect(Array.from(m.apClassIndex)).toEqual(GOLDEN.cls);
    expect(Array.from(m.allAp)).toEqual(GOLDEN.allAp);
    expect(Array.from(m.p)).toEqual(GOLDEN.p);
    expect(Array.from(m.r)).toEqual(GOLDEN.r);
    expect(m.raw.bestIndex).toBe(GOLDEN.best);
    expect(m.mp).toBe(GOLDEN.mp);
    expect(m.mr).toBe(GOLDEN.mr);
    expect(m.map50).toBe(GOLDEN.map50);
    expect(m.map).toBe(GOLDEN.map);
    expect(m.fitness).toBe(GOLDEN.fitness);
    expect(Array.from(cm.matrix)).toEqual(GOLDEN.cm);
  });

  it('1000 images x 300 detections accumulate and compute fast (typed arrays, no per-detection objects)', () => {
    let seed = 9;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const nc = 80, D = 300;
    const acc = new MetricsAccumulator();
    const pb = new Float32Array(D * 4), pc = new Float32Array(D), pf = new Float32Array(D);
    const t0 = performance.now();
    for (let im = 0; im < 1000; im++) {
      const ng = 1 + Math.floor(rnd() * 14);
      const gb = new Float32Array(ng * 4), gc = new Float32Array(ng);
      for (let i = 0; i < ng; i++) {
        const x = rnd() * 600, y = rnd() * 600;
        gb.set([x, y, x + 10 + rnd() * 100, y + 10 + rnd() * 100], 4 * i);
        gc[i] = Math.floor(rnd() * nc);
      }
      for (let d = 0; d < D; d++) {
        const g = Math.floor(rnd() * ng);
        for (let t = 0; t < 4; t++) pb[4 * d + t] = gb[4 * g + t] + (rnd() - 0.5) * 10;
        pc[d] = rnd() < 0.5 ? gc[g] : Math.floor(rnd() * nc);
        pf[d] = 1 - d / D;
      }
      acc.addImage({ boxes: pb, conf: pf, cls: pc }, { boxes: gb, cls: gc });
    }
    const m = acc.compute();
    const ms = performance.now() - t0;
    expect(acc.numDetections).toBe(300_000);
    expect(m.map50).toBeGreaterThan(0.5);
    expect(ms).toBeLessThan(3000); // typically ~0.3 s on a loaded 2-core box
  });
});

describe('validation table', () => {
  it('formats like the reference: %22s, %11i x2, %11.3g x4, and the speed line', () => {
    expect(valHeader()).toBe('                 Class     Images  Instances      Box(P          R      mAP50  mAP50-95)');
    const { acc } = seededRun();
    const m = acc.compute(['c0', 'c1', 'c2', 'c3']);
    const lines = formatValTable(m);
    expect(lines[0]).toBe('                   all         40         99      0.439      0.541      0.414      0.153');
    expect(lines.length).toBe(4); // all + 3 classes with targets
    expect(lines[1].startsWith('                    c0')).toBe(true);
    expect(formatValTable(m, { verbose: false }).length).toBe(1);
    expect(formatSpeedLine({ preprocess: 0.25, inference: 3.14159, loss: 0, postprocess: 1.05 })).toBe(
      'Speed: 0.2ms preprocess, 3.1ms inference, 0.0ms loss, 1.1ms postprocess per image',
    );
  });

  it('Python %g / %f rounding (half to even on exact ties, exponent form)', () => {
    expect(pyFormatG(0.5625, 3)).toBe('0.562');
    expect(pyFormatG(0.125, 2)).toBe('0.12');
    expect(pyFormatG(1, 3)).toBe('1');
    expect(pyFormatG(0, 3, 11)).toBe('          0');
    expect(pyFormatG(0.00001234, 3)).toBe('1.23e-05');
    expect(pyFormatG(1234.5, 3)).toBe('1.23e+03');
    expect(pyFormatG(0.9995, 3)).toBe('1');
    expect(pyFormatF(0.25, 1)).toBe('0.2');
    expect(pyFormatF(0.35, 1)).toBe('0.3'); // 0.35 is 0.34999... in binary
    expect(pyFormatF(-0.01, 1)).toBe('-0.0');
    expect(pyFormatF(2.675, 2)).toBe('2.67');
  });
});

describe('validation plots', () => {
  it('writes BoxPR/F1/P/R curves (2250 x 1500) and both confusion matrices (3000 x 2250)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'valplots-'));
    try {
      const { acc, cm } = seededRun();
      const m = acc.compute(['c0', 'c1', 'c2', 'c3']);
      const paths = await saveValPlots(dir, m, cm);
      expect(paths.map((p) => p.slice(dir.length + 1))).toEqual([
        'BoxPR_curve.png',
        'BoxF1_curve.png',
        'BoxP_curve.png',
        'BoxR_curve.png',
        'confusion_matrix_normalized.png',
        'confusion_matrix.png',
      ]);
      for (const p of paths) {
        const meta = await sharp(p).metadata();
        const cmx = p.includes('confusion');
        expect([meta.format, meta.width, meta.height]).toEqual(['png', cmx ? 3000 : 2250, cmx ? 2250 : 1500]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
