import { afterAll, describe, expect, it } from 'vitest';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { decode } from '../../src/yolo/decode.js';
import type { DetectOutput } from '../../src/yolo/modules/detect.js';
import { randomData, relL2, testEngine } from '../helpers/gpu.js';
import { FIXTURES } from '../helpers/shared.js';

interface Level {
  h: number;
  w: number;
  box: Float32Array; // [N, H, W, 4 regMax]
  cls: Float32Array; // [N, H, W, nc]
}

/** Decode in float64: per anchor xywh (pixels) from the DFL expectation around the cell centre, then sigmoid scores. */
function decodeCpu(levels: Level[], strides: number[], n: number, nc: number, regMax: number): Float64Array {
  const total = levels.reduce((s, l) => s + l.h * l.w, 0);
  const out = new Float64Array(n * total * (4 + nc));
  let start = 0;
  levels.forEach((l, li) => {
    for (let b = 0; b < n; b++)
      for (let y = 0; y < l.h; y++)
        for (let x = 0; x < l.w; x++) {
          const pixel = (b * l.h + y) * l.w + x;
          const row = (b * total + start + y * l.w + x) * (4 + nc);
          const d = [0, 1, 2, 3].map((side) => {
            const logits = Array.from({ length: regMax }, (_, k) => l.box[pixel * 4 * regMax + side * regMax + k]);
            const m = Math.max(...logits);
            const e = logits.map((v) => Math.exp(v - m));
            const z = e.reduce((s, v) => s + v, 0);
            return e.reduce((s, v, k) => s + (v / z) * k, 0);
          });
          const [x1, y1, x2, y2] = [x + 0.5 - d[0], y + 0.5 - d[1], x + 0.5 + d[2], y + 0.5 + d[3]];
          out.set([((x1 + x2) / 2) * strides[li], ((y1 + y2) / 2) * strides[li], (x2 - x1) * strides[li], (y2 - y1) * strides[li]], row);
          for (let c = 0; c < nc; c++) out[row + 4 + c] = 1 / (1 + Math.exp(-l.cls[pixel * nc + c]));
        }
    start += l.h * l.w;
  });
  return out;
}

function detectOutput(engine: Engine, levels: Level[], n: number): DetectOutput {
  const t = (data: Float32Array, l: Level) => new Var(Tensor.fromHost(engine, data, [n, l.h, l.w, data.length / (n * l.h * l.w)], 'f32', 'activations'));
  return { box: levels.map((l) => t(l.box, l)), cls: levels.map((l) => t(l.cls, l)) };
}

describe('decode', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('matches the float64 reference on random odd-sized levels', async () => {
    engine = await testEngine();
    const [n, nc, regMax] = [2, 3, 16];
    const levels: Level[] = [
      [5, 3],
      [3, 2],
    ].map(([h, w], i) => ({ h, w, box: randomData(n * h * w * 4 * regMax, 10 + i, -4, 4), cls: randomData(n * h * w * nc, 20 + i, -5, 5) }));
    const out = detectOutput(engine, levels, n);
    const decoded = decode(out, [8, 16]);
    expect(decoded.shape).toEqual([n, 21, 4 + nc]);
    expect(relL2(await decoded.read(), decodeCpu(levels, [8, 16], n, nc, regMax))).toBeLessThan(1e-6);
    for (const v of [...out.box, ...out.cls]) v.dispose();
    decoded.dispose();
  });

  it("turns the fixture's raw head outputs into its decoded [1, 84, 8400] (transposed)", async () => {
    engine = await testEngine();
    const f = SafetensorsFile.open(`${FIXTURES}/v8n-coco128.forward640.safetensors`);
    const [boxes, scores, ref] = ['boxes_raw', 'scores_raw', 'decoded'].map((k) => f.getFloat32(k).data);
    const anchors = 8400;
    let start = 0;
    const levels = [80, 40, 20].map((s): Level => {
      const gather = (src: Float32Array, c: number) => Float32Array.from({ length: s * s * c }, (_, i) => src[(i % c) * anchors + start + Math.floor(i / c)]);
      const l = { h: s, w: s, box: gather(boxes, 64), cls: gather(scores, 80) };
      start += s * s;
      return l;
    });
    const out = detectOutput(engine, levels, 1);
    const decoded = decode(out, [8, 16, 32]);
    const got = await decoded.read();
    const transposed = Float32Array.from({ length: 84 * anchors }, (_, i) => got[(i % anchors) * 84 + Math.floor(i / anchors)]);
    expect(relL2(transposed, ref)).toBeLessThan(1e-6);
    for (const v of [...out.box, ...out.cls]) v.dispose();
    decoded.dispose();
  });
});
