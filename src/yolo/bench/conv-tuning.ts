/**
 * Tensor-core tile tuning inside the training step: every tile is timed where it runs, with
 * the step's own memory traffic (isolated launches keep their operands in L2 and predicted
 * twice the gain a step showed, bench/RESULTS.md). Profiled steps of one session: SIMT
 * convolutions only, the default kernels, then one step per candidate table (table i gives
 * every f16 shape its i-th tile candidate that the device accepts); the fastest variant per
 * shape becomes a variant table for `bench step --conv-variants`. A shape's time includes what
 * its dispatches overlapped with independent neighbours (a layer's weight and input gradients
 * run side by side), so a table that makes one slow inflates the other's: check a tuned table
 * by timing whole steps (bench/RESULTS.md, eighteenth call).
 */
import { UserError } from '../../errors.js';
import type { Engine } from '../../gpu/engine.js';
import { parseConvShapeKey, type ConvOp, type ConvVariantTable } from '../../kernels/conv-variants.js';
import { checkConvOpVariant } from '../../kernels/conv-variant-check.js';
import { tileCandidates } from '../../kernels/conv-tile-candidates.js';
import { subgroupFragment } from '../../kernels/matmul.js';
import { profileStep, stepSession, type StepBenchOptions } from './step-bench.js';

export interface ConvTuningOptions extends Omit<StepBenchOptions, 'steps' | 'top'> {
  /** Candidate tables are tried while this many seconds have not passed (default: all of them). */
  seconds?: number;
  /** At most this many candidate tables. */
  maxTables?: number;
}

/** One shape's outcome: the fastest variant ('default' where the engine's own choice won) and the times it was picked from. */
export interface TunedShape {
  key: string;
  variant: string;
  ms: number;
  simtMs: number;
  defaultMs: number;
  /** GPU ms of every variant tried on this shape ('simt' and 'default' included). */
  times: Record<string, number>;
}

export interface ConvTuningResult {
  /** The variants that beat the default, by shape key. */
  table: ConvVariantTable;
  shapes: TunedShape[];
  /** GPU ms per step by operation: SIMT only, the default kernels, the tuned choice. */
  totals: { op: ConvOp; simt: number; default: number; tuned: number }[];
  /** Candidate tables tried, of those built. */
  tables: { tried: number; built: number };
}

type ShapeTimes = Map<string, number>;

export async function tuneConvs(engine: Engine, o: ConvTuningOptions): Promise<ConvTuningResult> {
  if (!subgroupFragment(engine)) throw new UserError('bench tune: this adapter has no f16 subgroup matrices (tensor cores), so there are no tiles to tune');
  if (!engine.features.timestampQuery) throw new UserError('bench tune needs the timestamp-query feature, which this adapter lacks');
  const log = o.log ?? (() => {});
  const deadline = performance.now() + 1000 * (o.seconds ?? Infinity);
  const saved = { kernels: engine.convKernels, variants: engine.convVariants };
  const session = stepSession(engine, o);
  /** Per-shape GPU ms of one profiled step under the given kernel choice (one unprofiled step first compiles its pipelines). */
  const measure = async (kernels: typeof engine.convKernels, variants: ConvVariantTable): Promise<ShapeTimes> => {
    engine.convKernels = kernels;
    engine.convVariants = variants;
    await session.step();
    const profile = (await profileStep(engine, () => session.step(), 1))!;
    return new Map(profile.operations.map((op) => [op.tag, op.ms]));
  };
  try {
    for (let i = 0; i < (o.warmup ?? 2); i++) await session.step();
    log('profiling a step with SIMT convolutions only');
    const simt = await measure('simt', {});
    log('profiling a step with the default kernels');
    const dflt = await measure('tensor-cores', {});
    const keys = [...dflt.keys()].filter((key) => parseConvShapeKey(key)?.dtype === 'f16');
    const lists = keys.map((key) => deviceCandidates(engine, key));
    const built = Math.max(0, ...lists.map((l) => l.length));
    const best = new Map(keys.map((key) => [key, { variant: dflt.get(key)! <= simt.get(key)! ? 'default' : 'simt', ms: Math.min(dflt.get(key)!, simt.get(key)!) }]));
    const times = new Map(keys.map((key) => [key, { simt: simt.get(key)!, default: dflt.get(key)! } as Record<string, number>]));
    let tried = 0;
    for (; tried < Math.min(built, o.maxTables ?? Infinity) && performance.now() < deadline; tried++) {
      const table = Object.fromEntries(keys.flatMap((key, j) => (lists[j][tried] ? [[key, lists[j][tried]]] : [])));
      log(`profiling candidate table ${tried + 1}/${built}`);
      const measured = await measure('tensor-cores', table);
      for (const [key, variant] of Object.entries(table)) {
        const ms = measured.get(key);
        if (ms === undefined) continue;
        times.get(key)![variant] = ms;
        if (ms < best.get(key)!.ms) best.set(key, { variant, ms });
      }
    }
    const shapes = keys.map((key) => ({ key, ...best.get(key)!, simtMs: simt.get(key)!, defaultMs: dflt.get(key)!, times: times.get(key)! })).sort((a, b) => b.ms - a.ms);
    const ops: ConvOp[] = ['conv2d', 'conv2dInputGrad', 'conv2dWeightGrad'];
    const sum = (op: ConvOp, ms: (s: TunedShape) => number) => shapes.filter((s) => s.key.startsWith(`${op}:`)).reduce((a, s) => a + ms(s), 0);
    return {
      table: Object.fromEntries(shapes.filter((s) => s.variant !== 'default').map((s) => [s.key, s.variant])),
      shapes,
      totals: ops.map((op) => ({ op, simt: sum(op, (s) => s.simtMs), default: sum(op, (s) => s.defaultMs), tuned: sum(op, (s) => s.ms) })),
      tables: { tried, built },
    };
  } finally {
    session.dispose();
    engine.convKernels = saved.kernels;
    engine.convVariants = saved.variants;
  }
}

/** A shape's tile candidates that this device can run (the checks a variant table gets). */
function deviceCandidates(engine: Engine, key: string): string[] {
  const shape = parseConvShapeKey(key)!;
  return tileCandidates(shape.op, shape.cin, shape.cout, shape.groups).filter((variant) => {
    try {
      checkConvOpVariant(engine, shape.op, shape.dtype, variant);
      return true;
    } catch {
      return false; // over the device's workgroup memory or invocations, or chunks that do not split
    }
  });
}
