import { describe, expect, it } from 'vitest';
import { formatStepBench, runBenchStep, runBenchTune, type BenchStepOptions } from '../../src/cli/bench.js';
import { subgroupFragment } from '../../src/kernels/matmul.js';
import { testEngine } from '../helpers/gpu.js';
import { UserError } from '../../src/errors.js';
import { capture } from '../helpers/capture.js';

const options = (o: Partial<BenchStepOptions>): BenchStepOptions => ({
  model: 'yolov8n.yaml',
  batch: '1',
  imgsz: '64',
  precision: 'f32',
  checkpoint: 'none',
  steps: '1',
  warmup: '1',
  top: '12',
  convKernels: 'simt',
  ...o,
});

describe('yolo-wgpu bench step', () => {
  it('--json prints one JSON document (adapter, time, peak bytes by category, profile); the text report has the same numbers', async () => {
    const { out, err, error } = await capture(() => runBenchStep(options({ json: true })));
    expect(error).toBeUndefined();
    const doc = JSON.parse(out);
    expect(doc).toMatchObject({ model: 'yolov8n.yaml', batch: 1, imgsz: 64, precision: 'f32', checkpoint: 'none', params: 3_157_200 });
    expect(doc.adapter).toBeDefined();
    expect(Object.keys(doc.atPeak)).toEqual(['params', 'grads', 'optimizer', 'activations', 'workspace', 'input', 'other']);
    expect(err).toMatch(/step 1\/1: [\d.]+ ms/);
    const text = formatStepBench(doc);
    expect(text).toMatch(new RegExp(`^yolov8n.yaml batch 1 at 64, f32, checkpoint none: 3,157,200 parameters\\n${doc.msPerStep.toFixed(1)} ms/step \\(median of 1\\)`));
    expect(text).toMatch(/\ncategory +at peak +own peak\nparams +12\.\d MiB/);
    if (doc.profile) expect(text).toMatch(/one profiled step: [\d.]+ ms of GPU time in \d+ dispatches\nkernel +dispatches +ms +share\nconv2d/);
  });

  it('rejects bad options with the allowed values', async () => {
    for (const [o, message] of [
      [{ precision: 'bf16' }, /--precision must be one of f32, f16, got "bf16"/],
      [{ checkpoint: 'some' }, /--checkpoint must be one of none, all/],
      [{ imgsz: '100' }, /--imgsz must be a multiple of 32/],
      [{ steps: '0' }, /--steps must be a positive integer/],
      [{ convKernels: 'tc' }, /--conv-kernels must be one of simt, tensor-cores, got "tc"/],
    ] as const) {
      const { error } = await capture(() => runBenchStep(options(o)));
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('bench tune says why it cannot run: bad options, or no tensor cores to tune', async () => {
    const tune = { model: 'yolov8n.yaml', batch: '1', imgsz: '64', checkpoint: 'none', warmup: '1', out: '/nonexistent/tuned.json' };
    for (const [o, message] of [
      [{ imgsz: '100' }, /--imgsz must be a multiple of 32/],
      [{ tables: '0' }, /--tables must be a positive integer/],
    ] as const) {
      const { error } = await capture(() => runBenchTune({ ...tune, ...o }));
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(message);
    }
    if (subgroupFragment(await testEngine())) return; // a GPU with tensor cores would tune
    const { error } = await capture(() => runBenchTune(tune));
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe('bench tune: this adapter has no f16 subgroup matrices (tensor cores), so there are no tiles to tune');
  });
});
