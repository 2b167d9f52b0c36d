/**
 * Parity with the PyTorch fixtures (f32, eval mode, bus.jpg at 320).
 *
 * The fixtures were computed on an H100 with cuDNN's default TF32 convolutions: operands of
 * the wider convolutions are rounded to 10-bit mantissas there, which puts 2e-4..5e-4 of
 * relative L2 noise into every layer that has them (layers 0 and 1, with 3 and 16 input
 * channels, match to 3e-7). The last test shows it: a float64 reference of one C2f that rounds
 * its 1x1 convolutions' operands to TF32 lands within 3e-5 of the fixture, the exact one 3.7e-4.
 * So each layer, fed the fixture's own inputs, must be within 1e-3; the whole chain, where the
 * noise accumulates, within 1e-2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/backward.js';
import { add, mean, square } from '../../src/autograd/ops.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { keep, tidy } from '../../src/gpu/scope.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { conv2dCpu } from '../../src/kernels/conv2d.cpu.js';
import type { HostTensor } from '../../src/kernels/host-tensor.js';
import { oihwToOhwi } from '../../src/nn/conv2d.js';
import { buildModel } from '../../src/yolo/build.js';
import type { DetectionModel } from '../../src/yolo/detection-model.js';
import { Detect } from '../../src/yolo/modules/detect.js';
import { Concat } from '../../src/yolo/modules/resample.js';
import { loadWeights } from '../../src/yolo/weights.js';
import { randomData, relL2, testEngine } from '../helpers/gpu.js';
import { nchwToNhwc, nhwcToNchw } from '../helpers/nchw.js';
import { FIXTURES } from '../helpers/shared.js';

/** A fixture tensor (NCHW) as an NHWC host tensor. */
function nhwc(f: SafetensorsFile, name: string): HostTensor {
  const t = f.getFloat32(name);
  const [n, c, h, w] = t.shape;
  return { shape: [n, h, w, c], data: nchwToNhwc(t.data, t.shape) };
}

const upload = (engine: Engine, t: HostTensor) => new Var(Tensor.fromHost(engine, t.data, t.shape, 'f32', 'input'));

async function errorOf(v: Var, f: SafetensorsFile, name: string): Promise<number> {
  return relL2(nhwcToNchw(await v.data.read(), v.shape), f.getFloat32(name).data);
}

describe.each([
  ['v8n-coco128', 'yolov8n.yaml'],
  ['11n-rand', 'yolo11n.yaml'],
])('%s layers at 320 against PyTorch', (tag, spec) => {
  let engine: Engine;
  let model: DetectionModel;
  const fixture = SafetensorsFile.open(`${FIXTURES}/${tag}.layers320.safetensors`);
  afterAll(() => model?.dispose());

  it('every layer fed the fixture inputs is within 1e-3', async () => {
    engine = await testEngine();
    model = buildModel(engine, spec).eval();
    loadWeights(model, `${FIXTURES}/${tag}.weights.safetensors`);
    const errors: string[] = [];
    for (const l of model.layers.filter((k) => !(k.module instanceof Detect))) {
      const inputs = l.from.map((f) => upload(engine, nhwc(fixture, f < 0 ? 'input' : `layer${f}`)));
      const y = noGrad(() => (l.module instanceof Concat ? l.module.forward(inputs) : (l.module as Concat & { forward(x: Var): Var }).forward(inputs[0])));
      const e = await errorOf(y, fixture, `layer${l.index}`);
      if (!(e < 1e-3)) errors.push(`layer ${l.index} (${l.type}): ${e}`);
      for (const v of [y, ...inputs]) v.dispose();
    }
    expect(errors).toEqual([]);
  });

  it('the whole forward (in-place concatenations, early frees) is within 1e-2 at every layer', async () => {
    const x = upload(engine, nhwc(fixture, 'input'));
    const out = noGrad(() => model.forward(x, { collect: true }));
    const errors: string[] = [];
    for (const l of model.layers.filter((k) => !(k.module instanceof Detect))) {
      const e = await errorOf(out.layers![l.index], fixture, `layer${l.index}`);
      if (!(e < 1e-2)) errors.push(`layer ${l.index} (${l.type}): ${e}`);
    }
    expect(errors).toEqual([]);
    for (const v of [x, ...out.layers!, ...out.box, ...out.cls]) v?.dispose();
  });
});

describe('f16 activations (f32 weights)', () => {
  // Only the trained model: 11n-rand's random-init activations shrink below f16's normal range.
  it('v8n-coco128: the whole forward is within 1e-2 at every layer', async () => {
    const engine = await testEngine();
    const model = buildModel(engine, 'yolov8n.yaml').eval();
    loadWeights(model, `${FIXTURES}/v8n-coco128.weights.safetensors`);
    const fixture = SafetensorsFile.open(`${FIXTURES}/v8n-coco128.layers320.safetensors`);
    const input = nhwc(fixture, 'input');
    const x = new Var(Tensor.fromHost(engine, input.data, input.shape, 'f16', 'input'));
    const out = noGrad(() => model.forward(x, { collect: true }));
    expect(out.layers!.every((v) => v.data.dtype === 'f16')).toBe(true);
    const errors: string[] = [];
    for (const l of model.layers.filter((k) => !(k.module instanceof Detect))) {
      const e = await errorOf(out.layers![l.index], fixture, `layer${l.index}`);
      if (!(e < 1e-2)) errors.push(`layer ${l.index} (${l.type}): ${e}`);
    }
    expect(errors).toEqual([]);
    for (const v of [x, ...out.layers!, ...out.box, ...out.cls]) v.dispose();
    model.dispose();
  });
});

describe('why the tolerance is not 1e-4', () => {
  it('the fixture C2f matches a float64 reference with TF32-rounded 1x1 convolutions', () => {
    const weights = SafetensorsFile.open(`${FIXTURES}/v8n-coco128.weights.safetensors`);
    const fixture = SafetensorsFile.open(`${FIXTURES}/v8n-coco128.layers320.safetensors`);
    const bits = new Uint32Array(1);
    const value = new Float32Array(bits.buffer);
    const toTf32 = (v: number) => ((value[0] = v), (bits[0] = (bits[0] + 0x1000) & 0xffffe000), value[0]);
    const layer2 = (tf32: boolean) => {
      const conv = (x: HostTensor, prefix: string, k: number): HostTensor => {
        const round = tf32 && k === 1 ? (t: HostTensor) => ({ shape: t.shape, data: t.data.map(toTf32) }) : (t: HostTensor) => t;
        const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => weights.getFloat32(`${prefix}.bn.${n}`).data);
        const scale = Array.from(gamma, (g, i) => g / Math.sqrt(variance[i] + 1e-3));
        const shift = Array.from(beta, (b, i) => b - mean[i] * scale[i]);
        return conv2dCpu(round(x), round(oihwToOhwi(weights.getFloat32(`${prefix}.conv.weight`))), { padding: (k - 1) / 2, scale, shift, silu: true });
      };
      // C2f(32, 32, n=1, shortcut): cv1 -> [a | b]; m = b + cv2(cv1(b)); cv2 over [a, b, m].
      const y = conv(nhwc(fixture, 'layer1'), 'model.2.cv1', 1);
      const pixels = y.data.length / 32;
      const b: HostTensor = { shape: [1, 80, 80, 16], data: new Float64Array(pixels * 16) };
      const cat: HostTensor = { shape: [1, 80, 80, 48], data: new Float64Array(pixels * 48) };
      for (let p = 0; p < pixels; p++) for (let c = 0; c < 16; c++) b.data[p * 16 + c] = y.data[p * 32 + 16 + c];
      const m = conv(conv(b, 'model.2.m.0.cv1', 3), 'model.2.m.0.cv2', 3);
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < 32; c++) cat.data[p * 48 + c] = y.data[p * 32 + c];
        for (let c = 0; c < 16; c++) cat.data[p * 48 + 32 + c] = m.data[p * 16 + c] + b.data[p * 16 + c];
      }
      return relL2(conv(cat, 'model.2.cv2', 1).data, nhwc(fixture, 'layer2').data);
    };
    expect(layer2(true)).toBeLessThan(3e-5);
    expect(layer2(false)).toBeGreaterThan(2e-4);
  });
});

describe('training mode', () => {
  it('backpropagates the surrogate loss to every trainable parameter and frees all activations', async () => {
    const engine = await testEngine();
    const model = buildModel(engine, 'yolo11n.yaml', { seed: 1 }).train();
    const before = engine.stats().live;
    const meanBefore = await model.layers[0].module.namedBuffers()[0][1].read();
    const x = new Var(Tensor.fromHost(engine, randomData(2 * 64 * 96 * 3, 3, 0, 1), [2, 64, 96, 3], 'f32', 'input'));
    const loss = tidy(() => {
      const out = model.forward(x);
      const terms = [...out.box, ...out.cls].map((v) => mean(square(v)));
      const total = terms.slice(1).reduce((s, t) => add(s, t), terms[0]);
      backward(total);
      return keep(total.data);
    });
    const params = model.namedParameters().filter(([, v]) => v.requiresGrad);
    expect(params.filter(([, v]) => !v.grad).map(([n]) => n)).toEqual([]);
    const g = await params.find(([n]) => n === 'model.10.m.0.attn.qkv.conv.weight')![1].grad!.read();
    expect(g.every(Number.isFinite) && g.some((v) => v !== 0)).toBe(true);
    expect(Number.isFinite((await loss.read())[0])).toBe(true);
    // Running statistics moved (momentum 0.03 towards the batch's).
    expect(await model.layers[0].module.namedBuffers()[0][1].read()).not.toEqual(meanBefore);
    loss.dispose();
    x.dispose();
    for (const [, v] of params) v.zeroGrad();
    const after = engine.stats().live;
    expect([after.activations, after.workspace, after.grads]).toEqual([before.activations, before.workspace, before.grads]);
    model.dispose();
  });
});
