import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { onnxPathFor, runExport, type ExportOptions, type ExportReport } from '../../src/cli/export.js';
import { UserError } from '../../src/errors.js';
import { Engine } from '../../src/gpu/engine.js';
import { saveCheckpoint } from '../../src/yolo/checkpoint-format.js';
import { modelFromWeights, readWeights } from '../../src/yolo/weights.js';
import { capture } from '../helpers/capture.js';
import { randomData } from '../helpers/gpu.js';
import { FIXTURES } from '../helpers/shared.js';

ort.env.wasm.numThreads = 1;

const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The fixtures are read-only: the .onnx goes next to a copy.
const pt = join(tmp, 'v8n.pt');
copyFileSync(`${FIXTURES}/v8n-coco128.pt`, pt);

const options = (o: Partial<ExportOptions>): ExportOptions => ({ weights: pt, format: 'onnx', imgsz: '64', batch: '1', opset: '17', ...o });

async function run(file: string, shape: number[]): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const session = await ort.InferenceSession.create(readFileSync(file));
  const images = randomData(shape.reduce((a, b) => a * b, 1), 7, 0, 1);
  const y = (await session.run({ images: new ort.Tensor('float32', images, shape) })).output0;
  await session.release();
  return { dims: y.dims, data: y.data as Float32Array };
}

describe('yolo-wgpu export', () => {
  it('writes WEIGHTS.onnx next to the weights and prints its path; onnxruntime runs it', async () => {
    const { out, err, error } = await capture(async () => runExport(options({})));
    expect(error).toBeUndefined();
    expect(out).toBe(`${join(tmp, 'v8n.onnx')}\n`);
    expect(err).toMatch(/^ONNX: opset 17, f32, images \[1,3,64,64\] -> output0 \[1,84,84\], [\d.]+ MiB$/m);
    expect((await run(join(tmp, 'v8n.onnx'), [1, 3, 64, 64])).dims).toEqual([1, 84, 84]);
  });

  it('--json prints the report only; --dynamic runs at another size and batch; --imgsz rounds up to the stride', async () => {
    const { out, err, error } = await capture(async () => runExport(options({ json: true, dynamic: true, imgsz: '70', opset: '20' })));
    expect(error).toBeUndefined();
    const r = JSON.parse(out) as ExportReport;
    expect(r).toMatchObject({ path: join(tmp, 'v8n.onnx'), format: 'onnx', input: ['batch', 3, 'height', 'width'], output: ['batch', 84, 'anchors'], opset: 20, dtype: 'f32' });
    expect(r.bytes).toBe(readFileSync(r.path).length);
    expect(err).toMatch(/--imgsz 70 must be a multiple of the stride 32, using 96/);
    expect((await run(r.path, [2, 3, 96, 128])).dims).toEqual([2, 84, 12 * 16 + 6 * 8 + 3 * 4]);
  });

  it('exports our checkpoint format with the same outputs as the .pt it came from', async () => {
    const ckpt = join(tmp, 'ours.safetensors');
    await saveCheckpoint(ckpt, modelFromWeights(Engine.meta(), pt), { stateDict: readWeights(pt).stateDict });
    const a = await capture(async () => runExport(options({ weights: ckpt })));
    const b = await capture(async () => runExport(options({})));
    expect([a.error, b.error]).toEqual([undefined, undefined]);
    expect(a.out).toBe(`${join(tmp, 'ours.onnx')}\n`);
    const [x, y] = await Promise.all([run(join(tmp, 'ours.onnx'), [1, 3, 64, 64]), run(join(tmp, 'v8n.onnx'), [1, 3, 64, 64])]);
    expect(Array.from(x.data)).toEqual(Array.from(y.data));
  });

  it('rejects unsupported formats and opsets, and files that are not model weights, naming what was expected', async () => {
    const text = join(tmp, 'notes.txt');
    writeFileSync(text, 'not a model');
    const plain = `${FIXTURES}/v8n-coco128.weights.safetensors`;
    for (const [o, message] of [
      [{ format: 'torchscript' }, /--format "torchscript" is not supported \(supported: onnx\)/],
      [{ opset: '12' }, /--opset must be an integer from 13 to 22, got "12"/],
      [{ imgsz: '0' }, /--imgsz must be a positive integer/],
      [{ weights: join(tmp, 'missing.pt') }, /missing\.pt: cannot read weights/],
      [{ weights: text }, /notes\.txt: not a valid safetensors file/],
      [{ weights: plain }, /a plain safetensors state dict does not say which model it holds/],
    ] as const) {
      const { error } = await capture(async () => runExport(options(o)));
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(message);
    }
    expect(existsSync(join(tmp, 'notes.onnx'))).toBe(false);
  });

  it('names the file after the weights', () => {
    expect([onnxPathFor('runs/train/weights/best.pt'), onnxPathFor('last.safetensors'), onnxPathFor('model')]).toEqual([
      'runs/train/weights/best.onnx',
      'last.onnx',
      'model.onnx',
    ]);
  });
});
