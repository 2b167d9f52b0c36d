import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { DType } from '../gpu/dtype.js';
import { Engine } from '../gpu/engine.js';
import { benchConv } from '../kernels/bench/conv-bench.js';
import { benchMatmul } from '../kernels/bench/matmul-bench.js';
import { checkConvVariantTable } from '../kernels/conv-variant-check.js';
import { readConvVariantTable } from '../kernels/conv-variants.js';
import { matmulPath } from '../kernels/matmul.js';
import { packageRoot } from '../package-root.js';
import { tuneConvs, type ConvTuningResult } from '../yolo/bench/conv-tuning.js';
import { benchStep, type StepBenchResult } from '../yolo/bench/step-bench.js';
import { formatBytes, printJson, table } from './format.js';
import { positiveInt } from './options.js';

/** One forward convolution of a model, as listed in bench/shapes/*.json. */
export interface ConvShape {
  name: string;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: number;
  stride: number;
  pad: number;
  groups: number;
  count: number;
}

interface KernelRow {
  op: string;
  dtype: DType;
  path: string;
  ms: number;
  tflops: number;
  gbps?: number;
  maxRelErr: number;
  count: number;
  torchMs?: number;
}

interface TorchKernels {
  matmul: { dtype: string; ms: number }[];
  convs: { name: string; dtype: string; ms: number }[];
}

export interface BenchKernelsOptions {
  json?: boolean;
  reps: string;
  batch: string;
  size: string;
  torch?: string;
  convs?: boolean;
  matmul?: boolean;
  dtype?: string;
  device?: string;
}

function loadConvShapes(): ConvShape[] {
  const file = join(packageRoot(), 'bench', 'shapes', 'yolov8n-convs.json');
  return JSON.parse(readFileSync(file, 'utf8')) as ConvShape[];
}

function loadTorch(file: string | undefined): TorchKernels | null {
  if (!file) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TorchKernels;
  } catch (error) {
    throw new UserError(`cannot read the PyTorch timings ${file}: ${(error as Error).message}`);
  }
}

/** Times matmul 4096^3 and a model's forward convolutions; compares with PyTorch when given its JSON. */
export async function runBenchKernels(options: BenchKernelsOptions): Promise<void> {
  const reps = positiveInt(options.reps, '--reps');
  const batch = positiveInt(options.batch, '--batch');
  const size = positiveInt(options.size, '--size');
  const torch = loadTorch(options.torch);
  const engine = await Engine.open({ device: options.device });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const dtypes = (options.dtype ? [options.dtype as DType] : (['f32', 'f16'] as DType[])).filter(
    (d) => d === 'f32' || engine.features.shaderF16,
  );
  const rows: KernelRow[] = [];
  try {
    if (options.matmul !== false) {
      for (const dtype of dtypes) {
        const paths = dtype === 'f16' && matmulPath(engine, 'f16', 'f16') === 'subgroup-matrix' ? ['simt', 'subgroup-matrix'] : ['simt'];
        for (const path of paths) {
          log(`matmul ${size}^3 ${dtype} ${path}...`);
          const r = await benchMatmul(engine, { m: size, n: size, k: size, dtype, path: path as 'simt', reps });
          const t = size === 4096 ? torch?.matmul.find((x) => x.dtype === dtype) : undefined;
          rows.push({ op: `matmul ${size}^3`, dtype, path, ms: r.ms, tflops: r.tflops, maxRelErr: r.maxRelErr, count: 1, torchMs: t?.ms });
        }
      }
    }
    if (options.convs !== false) {
      for (const dtype of dtypes) {
        for (const c of loadConvShapes()) {
          log(`conv ${c.name} ${dtype}...`);
          const r = await benchConv(engine, { n: batch, h: c.h, w: c.w, cin: c.cin, cout: c.cout, k: c.k, stride: c.stride, pad: c.pad, groups: c.groups, dtype, reps });
          const t = torch?.convs.find((x) => x.name === c.name && x.dtype === dtype);
          rows.push({ op: c.name, dtype, path: 'conv', ms: r.ms, tflops: r.tflops, gbps: r.gbps, maxRelErr: r.maxRelErr, count: c.count, torchMs: t?.ms });
        }
      }
    }
  } finally {
    engine.destroy();
  }
  const summary = dtypes.map((dtype) => {
    const convs = rows.filter((r) => r.path === 'conv' && r.dtype === dtype);
    const ours = convs.reduce((s, r) => s + r.ms * r.count, 0);
    const theirs = convs.every((r) => r.torchMs !== undefined) ? convs.reduce((s, r) => s + r.torchMs! * r.count, 0) : null;
    return { dtype, convMs: ours, torchConvMs: theirs, speedVsTorch: theirs === null || ours === 0 ? null : theirs / ours };
  });
  const adapter = engine.gpu!.adapter;
  if (options.json) {
    printJson({ adapter, batch, reps, rows, summary });
    return;
  }
  const fmt = (x: number | undefined, d = 3) => (x === undefined ? '-' : x.toFixed(d));
  process.stdout.write(`${adapter.description || adapter.device}\n`);
  process.stdout.write(
    `${table(
      ['op', 'dtype', 'path', 'x', 'ms', 'TFLOP/s', 'GB/s', 'rel err', 'torch ms', 'torch/ours'],
      rows.map((r) => [r.op, r.dtype, r.path, r.count, fmt(r.ms), fmt(r.tflops, 2), fmt(r.gbps, 0), r.maxRelErr.toExponential(1), fmt(r.torchMs), r.torchMs ? fmt(r.torchMs / r.ms, 2) : '-']),
    )}\n`,
  );
  for (const s of summary) {
    process.stdout.write(
      `convs ${s.dtype}, time-weighted: ours ${s.convMs.toFixed(2)} ms` +
        (s.torchConvMs === null ? '\n' : `, torch ${s.torchConvMs.toFixed(2)} ms, speed ${s.speedVsTorch!.toFixed(2)}x of torch\n`),
    );
  }
}

/** The options `bench step` and `bench tune` share: the model and how its training steps run. */
interface StepModelOptions {
  model: string;
  batch: string;
  imgsz: string;
  checkpoint: string;
  warmup: string;
  json?: boolean;
  device?: string;
}

export interface BenchStepOptions extends StepModelOptions {
  precision: string;
  steps: string;
  top: string;
  convKernels: string;
  convVariants?: string;
}

function choice<T extends string>(value: string, option: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UserError(`${option} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** The step benchmark's report: time, throughput, peak memory by category and the top kernels. */
export function formatStepBench(r: StepBenchResult): string {
  const cats = Object.keys(r.atPeak) as (keyof StepBenchResult['atPeak'])[];
  const lines = [
    `${r.model} batch ${r.batch} at ${r.imgsz}, ${r.precision}, checkpoint ${r.checkpoint}: ${r.params.toLocaleString('en-US')} parameters`,
    `${r.msPerStep.toFixed(1)} ms/step (median of ${r.stepMs.length}), ${r.imagesPerSec.toFixed(1)} images/s, loss ${r.loss.toPrecision(5)}${r.skipped ? `, ${r.skipped} steps skipped (f16 overflow)` : ''}`,
    `peak ${formatBytes(r.peakBytes)}`,
    table(['category', 'at peak', 'own peak'], cats.filter((c) => r.peak[c] > 0).map((c) => [c, formatBytes(r.atPeak[c]), formatBytes(r.peak[c])])),
  ];
  if (r.profile) {
    const p = r.profile;
    lines.push('', `one profiled step: ${p.totalMs.toFixed(1)} ms of GPU time in ${p.dispatches} dispatches`);
    lines.push(table(['kernel', 'dispatches', 'ms', 'share'], p.kernels.map((k) => [k.name, k.dispatches, k.ms.toFixed(2), `${(100 * k.share).toFixed(1)}%`])));
    const shown = p.operations.slice(0, TOP_OPERATIONS);
    if (shown.length > 0) {
      lines.push('', `slowest convolutions by shape (${shown.length} of ${p.operations.length}; all in --json)`);
      lines.push(table(['operation', 'dispatches', 'ms'], shown.map((o) => [o.tag, o.dispatches, o.ms.toFixed(2)])));
    }
  }
  return lines.join('\n');
}

/** Tagged operations listed in the text report. */
const TOP_OPERATIONS = 10;

function parseStepModel(o: StepModelOptions) {
  const parsed = {
    model: o.model,
    batch: positiveInt(o.batch, '--batch'),
    imgsz: positiveInt(o.imgsz, '--imgsz'),
    checkpoint: choice(o.checkpoint, '--checkpoint', ['none', 'all'] as const),
    warmup: positiveInt(o.warmup, '--warmup'),
  };
  if (parsed.imgsz % 32 !== 0) throw new UserError(`--imgsz must be a multiple of 32 (the model's largest stride), got ${parsed.imgsz}`);
  return parsed;
}

/** Declares the shared options on `bench step` or `bench tune`. */
function stepModelOptions(command: Command, warmup: string): Command {
  return command
    .option('--model <yaml>', 'model yaml', 'yolov8n.yaml')
    .option('--batch <n>', 'images per step', '16')
    .option('--imgsz <px>', 'image size', '640')
    .option('--checkpoint <policy>', 'none, or all: recompute every layer before the head in backward', 'none')
    .option('--warmup <n>', 'untimed steps first', warmup)
    .option('--json', 'print a JSON document only')
    .option('--device <name>', 'adapter name');
}

/** `bench step`: trains a model on random images with the surrogate loss; prints time, memory and the kernel profile. */
export async function runBenchStep(o: BenchStepOptions): Promise<StepBenchResult> {
  const options = {
    ...parseStepModel(o),
    precision: choice(o.precision, '--precision', ['f32', 'f16'] as const),
    steps: positiveInt(o.steps, '--steps'),
    top: positiveInt(o.top, '--top'),
  };
  const convKernels = choice(o.convKernels, '--conv-kernels', ['simt', 'tensor-cores'] as const);
  const convVariants = o.convVariants ? readConvVariantTable(o.convVariants) : undefined;
  const engine = await Engine.open({ device: o.device, convKernels, convVariants });
  try {
    if (options.precision === 'f16' && !engine.features.shaderF16) throw new UserError('--precision f16 needs the shader-f16 feature, which this adapter lacks');
    if (convVariants) checkConvVariantTable(engine, convVariants, o.convVariants!);
    const r = await benchStep(engine, { ...options, log: (line) => process.stderr.write(`${line}\n`) });
    if (o.json) printJson({ adapter: engine.gpu!.adapter, convKernels, convVariants: o.convVariants ?? null, ...r });
    else process.stdout.write(`${formatStepBench(r)}\n`);
    return r;
  } finally {
    engine.destroy();
  }
}

export interface BenchTuneOptions extends StepModelOptions {
  seconds?: string;
  tables?: string;
  out: string;
}

/** Shapes listed in the text report of `bench tune`. */
const TOP_TUNED = 12;

/** `bench tune`: tensor-core tiles tuned inside the training step; writes the variant table `bench step --conv-variants` reads. */
export async function runBenchTune(o: BenchTuneOptions): Promise<ConvTuningResult> {
  const options = {
    ...parseStepModel(o),
    precision: 'f16' as const,
    seconds: o.seconds === undefined ? undefined : positiveInt(o.seconds, '--seconds'),
    maxTables: o.tables === undefined ? undefined : positiveInt(o.tables, '--tables'),
  };
  const engine = await Engine.open({ device: o.device });
  try {
    const r = await tuneConvs(engine, { ...options, log: (line) => process.stderr.write(`${line}\n`) });
    writeFileSync(o.out, `${JSON.stringify(r.table, null, 1)}\n`);
    if (o.json) printJson({ adapter: engine.gpu!.adapter, ...options, out: o.out, ...r });
    else {
      const lines = [
        `${options.model} batch ${options.batch} at ${options.imgsz}, f16: ${r.tables.tried} of ${r.tables.built} candidate tables tried; ${Object.keys(r.table).length} shapes in ${o.out}`,
        table(['GPU ms per step', 'SIMT only', 'default', 'tuned'], r.totals.map((t) => [t.op, t.simt.toFixed(2), t.default.toFixed(2), t.tuned.toFixed(2)])),
        '',
        `slowest shapes after tuning (${Math.min(TOP_TUNED, r.shapes.length)} of ${r.shapes.length})`,
        table(['shape', 'variant', 'ms', 'SIMT ms', 'default ms'], r.shapes.slice(0, TOP_TUNED).map((t) => [t.key, t.variant, t.ms.toFixed(3), t.simtMs.toFixed(3), t.defaultMs.toFixed(3)])),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return r;
  } finally {
    engine.destroy();
  }
}

export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('performance benchmarks');
  bench
    .command('kernels')
    .description('time matmul 4096^3 and the forward convolutions of yolov8n (batch 16, 640x640)')
    .option('--json', 'print a JSON document only')
    .option('--reps <n>', 'timed repetitions per case', '20')
    .option('--batch <n>', 'batch size of the convolution shapes', '16')
    .option('--size <n>', 'matmul size (M = N = K)', '4096')
    .option('--dtype <dtype>', 'only f32 or only f16')
    .option('--no-convs', 'skip the convolutions')
    .option('--no-matmul', 'skip the matmuls')
    .option('--torch <file>', 'PyTorch timings from bench/torch/kernels.py to compare against')
    .option('--device <name>', 'adapter name')
    .action(runBenchKernels);
  stepModelOptions(bench.command('step'), '3')
    .description('time training steps of a model on random images (surrogate loss, SGD): ms/step, images/s, peak memory, kernel profile')
    .option('--precision <p>', 'f32, or f16 activations with f32 master weights and loss scaling', 'f32')
    .option('--steps <n>', 'timed steps (the median is reported)', '10')
    .option('--top <n>', 'kernels listed in the profile (the rest summed as other)', '12')
    .option('--conv-kernels <k>', 'tensor-cores: f16 convolutions on subgroup matrices where the device has them and the shape gains; simt: never', 'tensor-cores')
    .option('--conv-variants <file>', 'JSON table of convolution kernel variants by shape (bench tune writes one)')
    .action(async (o: BenchStepOptions) => {
      await runBenchStep(o);
    });
  stepModelOptions(bench.command('tune'), '2')
    .description('tune the tensor-core convolution tiles of an f16 training step inside the step (a profiled step per candidate table); writes a variant table for bench step --conv-variants')
    .requiredOption('--out <file>', 'where the variant table (JSON) goes')
    .option('--seconds <n>', 'stop trying candidate tables after this many seconds')
    .option('--tables <n>', 'try at most this many candidate tables')
    .action(async (o: BenchTuneOptions) => {
      await runBenchTune(o);
    });
}
