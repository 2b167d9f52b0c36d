import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { DType } from '../gpu/dtype.js';
import { Engine } from '../gpu/engine.js';
import { benchConv } from '../kernels/bench/conv-bench.js';
import { benchMatmul } from '../kernels/bench/matmul-bench.js';
import { matmulPath } from '../kernels/matmul.js';
import { packageRoot } from '../package-root.js';
import { printJson, table } from './format.js';

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

function positiveInt(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${option} must be a positive integer, got "${value}"`);
  return n;
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
}
