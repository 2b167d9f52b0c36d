import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noGrad } from '../../../src/autograd/tape.js';
import { Var } from '../../../src/autograd/variable.js';
import { Engine } from '../../../src/gpu/engine.js';
import { tidy } from '../../../src/gpu/scope.js';
import { Tensor } from '../../../src/gpu/tensor.js';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/io/half.js';
import { DataType, encodeModel, type OnnxModel } from '../../../src/io/onnx-proto.js';
import { BatchNorm2d } from '../../../src/nn/batch-norm.js';
import type { HostEntry } from '../../../src/nn/module.js';
import { buildModel } from '../../../src/yolo/build.js';
import type { DetectionModel } from '../../../src/yolo/detection-model.js';
import { decode } from '../../../src/yolo/decode.js';
import { emitDecode } from '../../../src/yolo/export/detect-head.js';
import { GraphBuilder } from '../../../src/yolo/export/graph.js';
import { exportOnnx, type OnnxExportOptions } from '../../../src/yolo/export/onnx.js';
import { loadWeights, modelFromWeights, readWeights } from '../../../src/yolo/weights.js';
import { randomData, relL2, testEngine } from '../../helpers/gpu.js';
import { FIXTURES } from '../../helpers/shared.js';

ort.env.wasm.numThreads = 1;

type Shape = [number, number, number, number];

/** Runs an exported model in onnxruntime (WASM, CPU) on NCHW images in [0, 1]; returns output0 [B, 4 + nc, A] as f32. */
async function runOnnx(bytes: Uint8Array, images: Float32Array, shape: Shape, half = false): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    expect([session.inputNames, session.outputNames]).toEqual([['images'], ['output0']]);
    const input = half ? new ort.Tensor('float16', f32ToF16Bits(images), shape) : new ort.Tensor('float32', images, shape);
    const y = (await session.run({ images: input })).output0;
    expect(y.type).toBe(half ? 'float16' : 'float32');
    return { data: half ? f16BitsToF32(y.data as Uint16Array) : (y.data as Float32Array), dims: y.dims };
  } finally {
    await session.release();
  }
}

/**
 * The exported model with more outputs: each layer's output before the head (the last value of
 * scope `model.K`) and the head's raw maps (the last conv of cv2.i, then of cv3.i).
 */
function withInnerOutputs(m: OnnxModel, model: DetectionModel): OnnxModel {
  const last = (scope: string) => m.graph.nodes.filter((n) => n.name!.startsWith(`${scope}/`) || n.name!.startsWith(`${scope}.`)).at(-1)!.outputs[0];
  const head = model.layers.length - 1;
  const layers = model.layers.slice(0, head).map((l) => last(`model.${l.index}`));
  const raw = ['cv2', 'cv3'].flatMap((branch) => model.stride.map((_, i) => last(`model.${head}.${branch}.${i}.2`)));
  return { ...m, graph: { ...m.graph, outputs: [...m.graph.outputs, ...[...layers, ...raw].map((name) => ({ name, elemType: DataType.FLOAT }))] } };
}

/** NCHW [B, C, H, W] -> NHWC. */
function toNhwc(x: ArrayLike<number>, [b, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < b; n++) for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(n * h * w + i) * c + k] = x[(n * c + k) * h * w + i];
  return out;
}

const maxAbs = (a: ArrayLike<number>) => Array.prototype.reduce.call(a, (m: number, v: number) => Math.max(m, Math.abs(v)), 0) as number;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Largest differences of two [B, A, k = 4 + nc] outputs: the boxes (pixels) and the class scores. */
function decodedDifferences(a: Float32Array, b: Float32Array, k: number): { boxes: number; scores: number } {
  let boxes = 0;
  let scores = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (i % k < 4) boxes = Math.max(boxes, d);
    else scores = Math.max(scores, d);
  }
  return { boxes, scores };
}

describe("ONNX export: onnxruntime gives the engine's eval outputs", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await testEngine();
  });
  afterAll(() => engine?.destroy());

  /**
   * Runs both on the same random images. Every layer's output and the head's raw maps must agree within
   * 1e-4 of their largest magnitude; returns the decoded outputs' differences.
   */
  async function compare(model: DetectionModel, weights: Map<string, HostEntry>, o: OnnxExportOptions, shape: Shape, seed: number) {
    const onnx = withInnerOutputs(exportOnnx(model, weights, o), model);
    const images = randomData(shape.reduce((p, d) => p * d, 1), seed, 0, 1);
    const session = await ort.InferenceSession.create(encodeModel(onnx));
    const outs = await session.run({ images: new ort.Tensor('float32', images, shape) });
    await session.release();
    const x = Tensor.fromHost(engine, toNhwc(images, shape), [shape[0], shape[2], shape[3], 3], 'f32', 'activations');
    const { layers, box, cls } = noGrad(() => model.forward(new Var(x), { collect: true }));
    const decoded = decode({ box, cls }, model.stride);
    try {
      const inner = [...layers!.slice(0, model.layers.length - 1), ...box, ...cls];
      for (const [i, name] of onnx.graph.outputs.slice(1).map((v) => v.name).entries()) {
        const ours = await inner[i].data.read();
        const [b, h, w, c] = inner[i].shape;
        expect(outs[name].dims).toEqual([b, c, h, w]);
        const theirs = toNhwc(outs[name].data as Float32Array, [b, c, h, w]);
        expect(maxAbsDiff(theirs, ours) / maxAbs(theirs), name).toBeLessThan(1e-4);
      }
      const [n, a, k] = decoded.shape;
      expect(outs.output0.dims).toEqual([n, k, a]);
      return decodedDifferences(toNhwc(outs.output0.data as Float32Array, [n, k, a, 1]), (await decoded.read()) as Float32Array, k);
    } finally {
      for (const v of new Set([x, ...layers!.map((l) => l.data), ...box.map((v) => v.data), ...cls.map((v) => v.data), decoded])) v.dispose();
    }
  }

  // Two f32 implementations (lavapipe's WGSL convolutions, onnxruntime's MLAS) are each ~3 ulp from the
  // float64 value after the first conv; the gap grows through the network to ~3e-5 on the trained
  // v8n's head logits. The DFL expectation (bins 0..15) and the stride (up to 32) turn that into up
  // to ~1e-3 px on its boxes: those are compared at 3e-3 px, the layers, logits and scores at 1e-4.
  it('yolov8n (v8n-coco128.pt): 160x160 batch 2; --dynamic at 96x224', async () => {
    const pt = `${FIXTURES}/v8n-coco128.pt`;
    const model = modelFromWeights(engine, pt).eval();
    const weights = readWeights(pt).stateDict;
    for (const [o, shape, seed] of [
      [{ imgsz: [160, 160], batch: 2 }, [2, 3, 160, 160], 1],
      [{ imgsz: [160, 160], dynamic: true }, [1, 3, 96, 224], 2],
    ] as [OnnxExportOptions, Shape, number][]) {
      const d = await compare(model, weights, o, shape, seed);
      expect(d.scores).toBeLessThan(1e-4);
      expect(d.boxes).toBeLessThan(3e-3);
    }
  });

  // 11n-rand's activations vanish with depth (BatchNorm statistics 0/1: 1e-9 at P5), so its decoded
  // output is nearly the head's biases. With BatchNorm statistics taken from one batch every layer, the
  // attention included, carries magnitudes 1 to 50; its random head then gives logits so large that
  // only the layer-by-layer comparison is meaningful there.
  it('yolo11n (11n-rand): decoded within 1e-4 at 160x160; BatchNorm calibrated (C3k2, C2PSA attention): every layer, --dynamic at batch 2, 128x64, opset 13', async () => {
    const model = buildModel(engine, 'yolo11n.yaml').eval();
    loadWeights(model, `${FIXTURES}/11n-rand.weights.safetensors`);
    const d = await compare(model, await model.stateDict(), { imgsz: [160, 160] }, [1, 3, 160, 160], 3);
    expect(Math.max(d.boxes, d.scores)).toBeLessThan(1e-4);

    const norms = model.namedModules().flatMap(([, m]) => (m instanceof BatchNorm2d ? [m] : []));
    for (const bn of norms) bn.state.momentum = 1;
    model.train();
    noGrad(() => tidy(() => void model.forward(new Var(Tensor.fromHost(engine, randomData(2 * 160 * 160 * 3, 9, 0, 1), [2, 160, 160, 3], 'f32', 'activations')))));
    for (const bn of norms) bn.state.momentum = 0.03;
    model.eval();
    await compare(model, await model.stateDict(), { imgsz: [160, 160], dynamic: true, opset: 13 }, [2, 3, 128, 64], 4);
  });

  it('the decode alone, on the same raw maps, is within 1e-4 px of decode.ts (batch 2, 64x96, 5 classes)', async () => {
    const [b, h, w, nc, r] = [2, 64, 96, 5, 16];
    const strides = [8, 16, 32];
    const g = new GraphBuilder(false);
    const levels = strides.map((s, i) => ({ i, h: h / s, w: w / s }));
    const maps = levels.flatMap(({ i, h: lh, w: lw }) => [
      { name: `box${i}`, shape: [b, 4 * r, lh, lw], data: randomData(b * 4 * r * lh * lw, 10 + i, -6, 6) },
      { name: `cls${i}`, shape: [b, nc, lh, lw], data: randomData(b * nc * lh * lw, 20 + i, -8, 8) },
    ]);
    const out = emitDecode(g, 'decode', { box: levels.map(({ i }) => `box${i}`), cls: levels.map(({ i }) => `cls${i}`), regMax: r, nc }, strides);
    g.rename(out, 'output0');
    const onnx = encodeModel({
      irVersion: 8,
      opsetImports: [{ version: 17 }],
      graph: {
        name: 'decode',
        nodes: g.nodes,
        initializers: g.initializers,
        inputs: maps.map((m) => ({ name: m.name, elemType: DataType.FLOAT, shape: m.shape })),
        outputs: [{ name: 'output0', elemType: DataType.FLOAT }],
      },
    });
    const session = await ort.InferenceSession.create(onnx);
    const feeds = Object.fromEntries(maps.map((m) => [m.name, new ort.Tensor('float32', m.data, m.shape)]));
    const y = (await session.run(feeds)).output0;
    await session.release();
    const vars = maps.map((m) => new Var(Tensor.fromHost(engine, toNhwc(m.data, m.shape), [m.shape[0], m.shape[2], m.shape[3], m.shape[1]], 'f32', 'activations')));
    const decoded = decode({ box: vars.filter((_, i) => i % 2 === 0), cls: vars.filter((_, i) => i % 2 === 1) }, strides);
    const ours = (await decoded.read()) as Float32Array;
    decoded.dispose();
    for (const v of vars) v.data.dispose();
    const a = levels.reduce((s, l) => s + l.h * l.w, 0);
    expect(y.dims).toEqual([b, 4 + nc, a]);
    expect(maxAbsDiff(toNhwc(y.data as Float32Array, [b, 4 + nc, a, 1]), ours)).toBeLessThan(1e-4);
  });
});

describe('ONNX export without a GPU (meta engine)', () => {
  const pt = `${FIXTURES}/v8n-coco128.pt`;
  const model = modelFromWeights(Engine.meta(), pt);
  const weights = readWeights(pt).stateDict;
  const images = randomData(3 * 64 * 64, 5, 0, 1);
  const shape: Shape = [1, 3, 64, 64];

  it('--half: f16 weights, input and output, within f16 rounding of the f32 export; every supported opset runs', async () => {
    const f32 = await runOnnx(encodeModel(exportOnnx(model, weights, { imgsz: [64, 64] })), images, shape);
    const f16Model = exportOnnx(model, weights, { imgsz: [64, 64], half: true });
    expect(f16Model.graph.initializers!.filter((t) => t.dataType !== 10 && t.dims.length === 4)).toEqual([]); // conv weights all f16
    const f16 = await runOnnx(encodeModel(f16Model), images, shape, true);
    expect(relL2(f16.data, f32.data)).toBeLessThan(2e-3);
    for (const opset of [13, 22]) {
      const other = await runOnnx(encodeModel(exportOnnx(model, weights, { imgsz: [64, 64], opset })), images, shape);
      expect(Array.from(other.data)).toEqual(Array.from(f32.data));
    }
  });

  it('declares the reference contract and metadata; rejects bad sizes and opsets', () => {
    const m = exportOnnx(model, weights, { imgsz: [64, 96], batch: 3 });
    expect(m.graph.inputs).toEqual([{ name: 'images', elemType: 1, shape: [3, 3, 64, 96] }]);
    expect(m.graph.outputs).toEqual([{ name: 'output0', elemType: 1, shape: [3, 84, 8 * 12 + 4 * 6 + 2 * 3] }]);
    expect([m.irVersion, m.opsetImports]).toEqual([8, [{ version: 17 }]]);
    expect(m.metadataProps).toMatchObject({ stride: '32', task: 'detect', batch: '3', imgsz: '[64, 96]' });
    expect(m.metadataProps!.names).toMatch(/^\{0: "person", 1: "bicycle", .*79: "toothbrush"\}$/);
    const dyn = exportOnnx(model, weights, { imgsz: [64, 64], dynamic: true });
    expect([dyn.graph.inputs[0].shape, dyn.graph.outputs[0].shape]).toEqual([['batch', 3, 'height', 'width'], ['batch', 84, 'anchors']]);
    expect(() => exportOnnx(model, weights, { imgsz: [64, 70] })).toThrow(/image size 64x70 must be a positive multiple of the stride 32/);
    expect(() => exportOnnx(model, weights, { imgsz: [64, 64], opset: 12 })).toThrow(/opset 12 is not supported \(13 to 22\)/);
    const partial = new Map(weights);
    partial.delete('model.4.m.1.cv2.bn.running_var');
    expect(() => exportOnnx(model, partial, { imgsz: [64, 64] })).toThrow(/the weights have no tensor model\.4\.m\.1\.cv2\.bn\.running_var/);
  });
});
