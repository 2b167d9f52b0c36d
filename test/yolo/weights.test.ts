import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/tape.js';
import { Var } from '../../src/autograd/variable.js';
import { UserError } from '../../src/errors.js';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { buildModel } from '../../src/yolo/build.js';
import { decode } from '../../src/yolo/decode.js';
import type { DetectionModel } from '../../src/yolo/detection-model.js';
import { loadWeights, modelFromWeights, readWeights } from '../../src/yolo/weights.js';
import { randomData, relL2, testEngine } from '../helpers/gpu.js';
import { nchwToNhwc } from '../helpers/nchw.js';
import { FIXTURES } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'weights-'));

/** Decoded predictions [N, A, 4 + nc] of an eval forward. */
async function predict(model: DetectionModel, x: Var): Promise<Float32Array> {
  const out = noGrad(() => model.forward(x));
  const decoded = decode(out, model.stride);
  const values = (await decoded.read()) as Float32Array;
  for (const v of [...out.box, ...out.cls]) v.dispose();
  decoded.dispose();
  return values;
}

describe('weights', () => {
  let engine: Engine;
  const models: DetectionModel[] = [];
  afterAll(() => {
    for (const m of models) m.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the model a .pt describes; its 640 decode matches forward640 (TF32 noise: 5e-4)', async () => {
    engine = await testEngine();
    const model = modelFromWeights(engine, `${FIXTURES}/v8n-coco128.pt`).eval();
    models.push(model);
    expect(model.yaml.scale).toBe('n');
    expect([model.nc, model.names?.length, model.names?.[0], model.names?.[79], model.sppf]).toEqual([80, 80, 'person', 'toothbrush', '8.4']);
    const f = SafetensorsFile.open(`${FIXTURES}/v8n-coco128.forward640.safetensors`);
    const input = f.getFloat32('input');
    const x = new Var(Tensor.fromHost(engine, nchwToNhwc(input.data, input.shape), [1, 640, 640, 3], 'f32', 'input'));
    const got = await predict(model, x);
    x.dispose();
    const transposed = Float32Array.from({ length: got.length }, (_, i) => got[(i % 8400) * 84 + Math.floor(i / 8400)]);
    expect(relL2(transposed, f.getFloat32('decoded').data)).toBeLessThan(5e-4);
  });

  it('the .pt and the safetensors state dict give identical weights and outputs', async () => {
    engine = await testEngine();
    const pt = readWeights(`${FIXTURES}/v8n320-coco128.pt`);
    const st = readWeights(`${FIXTURES}/v8n320-coco128.weights.safetensors`);
    expect([pt.format, st.format]).toEqual(['ultralytics-pt', 'safetensors']);
    expect(st.stateDict).toEqual(pt.stateDict);
    const a = modelFromWeights(engine, `${FIXTURES}/v8n320-coco128.pt`).eval();
    const b = buildModel(engine, 'yolov8n.yaml').eval();
    models.push(a, b);
    loadWeights(b, `${FIXTURES}/v8n320-coco128.weights.safetensors`);
    const x = new Var(Tensor.fromHost(engine, randomData(64 * 96 * 3, 5, 0, 1), [1, 64, 96, 3], 'f32', 'input'));
    const [pa, pb] = [await predict(a, x), await predict(b, x)];
    x.dispose();
    expect(pa.length).toBe((8 * 12 + 4 * 6 + 2 * 3) * 84);
    expect(Buffer.from(pa.buffer).equals(Buffer.from(pb.buffer))).toBe(true);
  });

  it('names the file and the mismatch when weights do not fit', () => {
    const meta = Engine.meta();
    const fail = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    const v8 = `${FIXTURES}/v8n-coco128.weights.safetensors`;
    expect(fail(() => loadWeights(buildModel(meta, 'yolo11n.yaml'), v8))).toMatch(
      /^\/.*v8n-coco128\.weights\.safetensors: the weights do not fit this yolo11n\.yaml: missing model\.6\.m\.0\.cv3\.conv\.weight, .* \(303 in all\); unexpected model\.12\.cv1\.bn\.bias, .* \(183 in all\)$/,
    );
    expect(fail(() => loadWeights(buildModel(meta, 'yolov8n.yaml', { nc: 3 }), v8))).toBe(
      `${v8}: tensor model.22.cv3.0.0.conv.weight has shape [80,64,3,3], the model expects [64,64,3,3] (the file's class head has 80 classes, the model 3: build it with nc 80)`,
    );
    expect(fail(() => loadWeights(buildModel(meta, 'yolov8s.yaml'), v8))).toBe(`${v8}: tensor model.0.conv.weight has shape [16,3,3,3], the model expects [32,3,3,3]`);
    expect(fail(() => modelFromWeights(meta, v8))).toMatch(/a plain safetensors state dict does not say which model it holds/);
    expect(fail(() => readWeights(join(dir, 'absent.pt')))).toMatch(/absent\.pt: cannot read weights/);
    const text = join(dir, 'notes.pt');
    writeFileSync(text, 'not weights at all');
    expect(fail(() => readWeights(text))).toMatch(/notes\.pt: not a PyTorch checkpoint \(a \.pt file is a zip archive starting with 'PK'; this one starts with "not "\)/);
    const bad = join(dir, 'notes.safetensors');
    writeFileSync(bad, 'not weights at all');
    expect(fail(() => readWeights(bad))).toMatch(/notes\.safetensors: not a valid safetensors file/);
  });

  it('points at nc when the class head differs', () => {
    const m = buildModel(Engine.meta(), 'yolov8n.yaml', { nc: 79 });
    expect(() => loadWeights(m, `${FIXTURES}/v8n-coco128.weights.safetensors`)).toThrow(
      /model\.22\.cv3\.0\.0\.conv\.weight has shape \[80,64,3,3\], the model expects \[79,64,3,3\] \(the file's class head has 80 classes, the model 79: build it with nc 80\)$/,
    );
  });
});
