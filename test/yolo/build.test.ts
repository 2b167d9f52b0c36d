import { describe, expect, it } from 'vitest';
import { Var } from '../../src/autograd/variable.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { buildModel } from '../../src/yolo/build.js';
import { modelSummary } from '../../src/yolo/model-summary.js';
import type { SPPF } from '../../src/yolo/modules/sppf.js';
import { FIXTURES } from '../helpers/shared.js';

/** Parameters and GFLOPs (unfused, 640) of the reference's yaml headers. */
const REFERENCE: [string, number, number][] = [
  ['yolov8n', 3_157_200, 8.9],
  ['yolov8s', 11_166_560, 28.8],
  ['yolov8m', 25_902_640, 79.3],
  ['yolov8l', 43_691_520, 165.7],
  ['yolov8x', 68_229_648, 258.5],
  ['yolo11n', 2_624_080, 6.6],
  ['yolo11s', 9_458_752, 21.7],
  ['yolo11m', 20_114_688, 68.5],
  ['yolo11l', 25_372_160, 87.6],
  ['yolo11x', 56_966_176, 196.0],
];

/** PyTorch state-dict names and shapes of a fixture's weights file. */
function fixtureShapes(tag: string): Map<string, number[]> {
  const f = SafetensorsFile.open(`${FIXTURES}/${tag}.weights.safetensors`);
  return new Map(f.names.map((n) => [n, f.entries.get(n)!.shape]));
}

/** Our state-dict names with shapes in PyTorch's layout (convolution weights OIHW). */
function modelShapes(spec: string): Map<string, number[]> {
  const m = buildModel(Engine.meta(), spec);
  const torchLayout = (s: readonly number[]) => (s.length === 4 ? [s[0], s[3], s[1], s[2]] : [...s]);
  return new Map([...m.namedParameters().map(([n, v]) => [n, torchLayout(v.shape)] as const), ...m.namedBuffers().map(([n, t]) => [n, [...t.shape]] as const)]);
}

describe('model builder (meta mode: no GPU memory)', () => {
  it.each(REFERENCE)('%s has the reference parameter count and GFLOPs', (name, params, gflops) => {
    const engine = Engine.meta();
    const model = buildModel(engine, `${name}.yaml`);
    const s = modelSummary(model);
    expect(s.params).toBe(params);
    expect(s.gradients).toBe(params - 16);
    expect(Math.abs(s.gflops - gflops)).toBeLessThan(0.1);
    expect(model.stride).toEqual([8, 16, 32]);
    expect(engine.stats().live.params).toBeGreaterThanOrEqual(params * 4);
  });

  it('names and shapes every tensor as the PyTorch state dict of the fixtures', () => {
    expect(modelShapes('yolov8n.yaml')).toEqual(fixtureShapes('v8n-coco128'));
    expect(modelShapes('yolo11n.yaml')).toEqual(fixtureShapes('11n-rand'));
  });

  it('applies nc, the scale letter and the m/l/x C3k2 rule as parse_model does', () => {
    const engine = Engine.meta();
    const v8 = buildModel(engine, 'yolov8n.yaml', { nc: 3, names: ['a', 'b', 'c'] });
    expect(v8.nc).toBe(3);
    expect(v8.yaml.nc).toBe(3);
    expect(v8.names).toEqual(['a', 'b', 'c']);
    // The class branch narrows to max(ch[0], min(nc, 100)) = 64 channels and ends in nc outputs.
    const shapes = new Map(v8.namedParameters().map(([n, v]) => [n, v.shape]));
    expect(shapes.get('model.22.cv3.0.0.conv.weight')).toEqual([64, 3, 3, 64]);
    expect(shapes.get('model.22.cv3.2.2.weight')).toEqual([3, 1, 1, 64]);
    const table = modelSummary(v8).layers;
    expect(table[2]).toMatchObject({ from: -1, repeats: 1, module: 'C2f', args: [32, 32, 1, true] });
    expect(table[4]).toMatchObject({ repeats: 2, args: [64, 64, 2, true] });
    expect(table[22]).toMatchObject({ from: [15, 18, 21], module: 'Detect', args: [3, [64, 128, 256]] });
    const m11 = modelSummary(buildModel(engine, 'yolo11m')).layers;
    expect(m11[2].args).toEqual([128, 256, 1, true, 0.25]);
    expect(modelSummary(buildModel(engine, 'yolo11s')).layers[2].args).toEqual([64, 128, 1, false, 0.25]);
    // SPPF: 8.4 (default) builds cv1 without SiLU, 8.3 with.
    const sppf = (variant?: '8.3' | '8.4') => (buildModel(engine, 'yolov8n.yaml', { sppf: variant }).layers[9].module as SPPF).cv1.act;
    expect([sppf(), sppf('8.4'), sppf('8.3')]).toEqual([false, false, true]);
    // Without a letter the first scale is used, as the reference does.
    expect(buildModel(engine, 'yolov8.yaml').parameterCount()).toBe(3_157_200);
  });

  it('runs the forward in meta mode with concatenations written in place', () => {
    const engine = Engine.meta();
    for (const spec of ['yolov8s.yaml', 'yolo11n.yaml']) {
      const model = buildModel(engine, spec).eval();
      const x = new Var(Tensor.empty(engine, [2, 640, 480, 3], 'f32', 'input'));
      const out = noGrad(() => model.forward(x, { collect: true }));
      expect(out.box.map((b) => b.shape)).toEqual([[2, 80, 60, 64], [2, 40, 30, 64], [2, 20, 15, 64]]);
      expect(out.cls.map((b) => b.shape)).toEqual([[2, 80, 60, 80], [2, 40, 30, 80], [2, 20, 15, 80]]);
      for (const l of model.layers.filter((k) => k.type === 'Concat')) {
        for (const f of l.from) expect(out.layers![f].data.storage).toBe(out.layers![l.index].data.storage);
      }
      for (const v of [...out.layers!, ...out.box, ...out.cls]) v?.dispose();
      model.dispose();
      expect(engine.stats().live.activations).toBe(0);
    }
  });

  it('asks for NHWC RGB images whose sides are multiples of the largest stride', () => {
    const engine = Engine.meta();
    const model = buildModel(engine, 'yolov8n.yaml');
    for (const shape of [[1, 100, 96, 3], [1, 96, 96, 1], [96, 96, 3]]) {
      const x = new Var(Tensor.empty(engine, shape, 'f32', 'input'));
      expect(() => model.forward(x)).toThrow(`the model takes NHWC images [N, H, W, 3] with H and W multiples of 32, got [${shape}]`);
      x.dispose();
    }
  });

  it('frees each layer output after its last consumer', () => {
    const engine = Engine.meta();
    const model = buildModel(engine, 'yolov8n.yaml').eval();
    const x = new Var(Tensor.empty(engine, [1, 320, 320, 3], 'f32', 'input'));
    const out = noGrad(() => model.forward(x));
    // Live: the six head outputs only.
    const heads = [...out.box, ...out.cls].reduce((s, v) => s + v.data.storage.bytes, 0);
    expect(engine.stats().live.activations).toBe(heads);
    for (const v of [...out.box, ...out.cls]) v.dispose();
  });
});
