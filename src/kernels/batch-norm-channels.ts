import { Tensor } from '../gpu/tensor.js';
import { distinctBindings, grid1d, launch, Params } from './launch.js';

/**
 * BatchNorm's per-channel arithmetic, one small dispatch each (as separate elementwise
 * launches it was 11 per layer, a third of a yolov8n training step's dispatches):
 *  - `batchNormAffine`: the statistics from the forward pass's chunk sums, invstd = 1 / sqrt(var
 *    + eps), scale = gamma invstd, shift = beta - mean scale, and in training the running-statistics
 *    update (momentum, unbiased variance);
 *  - `batchNormGradCoefs`: from the backward pass's chunk sums, dgamma = invstd sum(gu (x - mean)),
 *    dbeta = sum(gu) and the coefficients of dx = gu a + x k + d (see `batchNormGradApply`).
 * Adding the chunks in the same dispatch saves one per layer and pass. All other operands are f32
 * vectors of C channels (views; they may share storages).
 */

const WG = 64;
/** With chunk sums: channels per workgroup, and threads adding one channel's chunk sums (a fixed-order tree). */
const FINISH_CHANNELS = 16;
const FINISH_LANES = 16;

/**
 * Per-chunk sums of a per-channel pass over the rows (`channelSums`, `batchNormGradSums`):
 * `partial` is [chunks, 2, C] f32, the two sums of chunk k in rows 2k and 2k + 1, over `count`
 * rows in all. The kernels here add the chunks themselves (sum0 and sum1 in their bodies).
 */
export interface ChunkSums {
  partial: Tensor;
  count: number;
}

/** Binds `roles` and the chunk sums (storage shared where it is), returning the WGSL accessor of each role by name. */
function bindRoles(op: string, roles: Record<string, Tensor>, sums: Tensor | null) {
  const entries = Object.entries(roles);
  for (const [name, t] of entries) {
    if (t.dtype !== 'f32' || t.rank !== 1 || (t.size > 1 && t.strides[0] !== 1)) throw new Error(`${op}: ${name} must be a contiguous f32 vector, got [${t.shape}] ${t.dtype}`);
  }
  if (sums && (sums.dtype !== 'f32' || !sums.isContiguous())) throw new Error(`${op}: the chunk sums must be contiguous f32, got [${sums.shape}] ${sums.dtype}`);
  const all = [...entries.map(([, t]) => t), ...(sums ? [sums] : [])];
  const { bound, slot } = distinctBindings(op, all);
  const access = (t: Tensor, r: number) => (i: string) => `b${slot(t)}[P.off[${r >> 2}][${r & 3}] + ${i}]`;
  const at: Record<string, (i: string) => string> = {};
  entries.forEach(([name, t], r) => (at[name] = access(t, r)));
  return {
    tensors: bound,
    decls: bound.map((_, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> b${b}: array<f32>;`).join('\n'),
    at,
    sumsAt: sums ? access(sums, entries.length) : null,
    slots: all.map((t) => slot(t)).join(''),
    offsets: all.map((t) => t.offset),
  };
}

/**
 * One dispatch over C channels: `body` computes channel `c` from the roles (f32 vectors of C)
 * and up to four scalars P.s0..P.s3; with `sums` it also sees sum0 and sum1, the channel's two
 * sums over every chunk (FINISH_LANES threads per channel, then a fixed-order tree: deterministic).
 */
function run(op: string, key: string, roles: Record<string, Tensor>, scalars: number[], body: (at: Record<string, (i: string) => string>) => string, sums: ChunkSums | null = null): void {
  const { size: c, engine } = Object.values(roles)[0];
  for (const [name, t] of Object.entries(roles)) if (t.size !== c) throw new Error(`${op}: ${name} has ${t.size} channels, expected ${c}`);
  if (sums && (sums.partial.rank !== 3 || sums.partial.shape[1] !== 2 || sums.partial.shape[2] !== c)) throw new Error(`${op}: chunk sums [${sums.partial.shape}], expected [chunks, 2, ${c}]`);
  const b = bindRoles(op, roles, sums?.partial ?? null);
  const words = Math.ceil(b.offsets.length / 4);
  const header = `struct Params { C: u32, chunks: u32, s0: f32, s1: f32, s2: f32, s3: f32, off: array<vec4<u32>, ${words}> }
@group(0) @binding(0) var<uniform> P: Params;
${b.decls}`;
  const plain = () => /* wgsl */ `${header}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= P.C) { return; }
  ${body(b.at)}
}`;
  const S = (i: string) => b.sumsAt!(i); // only built with sums
  const chunked = () => /* wgsl */ `${header}
var<workgroup> t0: array<f32, ${FINISH_LANES * FINISH_CHANNELS}>;
var<workgroup> t1: array<f32, ${FINISH_LANES * FINISH_CHANNELS}>;
@compute @workgroup_size(${FINISH_CHANNELS}, ${FINISH_LANES})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wg.x * ${FINISH_CHANNELS}u + lid.x;
  let at = lid.y * ${FINISH_CHANNELS}u + lid.x;
  var sum0 = 0.0;
  var sum1 = 0.0;
  if (c < P.C) {
    for (var k = lid.y; k < P.chunks; k += ${FINISH_LANES}u) {
      sum0 += ${S('2u * k * P.C + c')};
      sum1 += ${S('(2u * k + 1u) * P.C + c')};
    }
  }
  t0[at] = sum0;
  t1[at] = sum1;
  for (var half = ${FINISH_LANES / 2}u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lid.y < half) {
      t0[at] += t0[at + half * ${FINISH_CHANNELS}u];
      t1[at] += t1[at + half * ${FINISH_CHANNELS}u];
    }
  }
  if (lid.y != 0u || c >= P.C) { return; }
  sum0 = t0[at];
  sum1 = t1[at];
  ${body(b.at)}
}`;
  const params = new Params().u32(c, sums ? sums.partial.shape[0] : 0).f32(...scalars, ...new Array(4 - scalars.length).fill(0)).align4().u32(...b.offsets).align4();
  const grid: [number, number, number] = sums ? [Math.ceil(c / FINISH_CHANNELS), 1, 1] : grid1d(engine, c, WG);
  launch(engine, { key: `${key}${sums ? ':sums' : ''}:${b.slots}`, name: op, build: sums ? chunked : plain }, b.tensors, params, grid);
}

export interface RunningStats {
  mean: Tensor;
  variance: Tensor;
  momentum: number;
  /** Elements per channel in the batch (the variance enters unbiased, n / (n - 1)). */
  count: number;
}

/** Batch statistics as the forward's statistics pass leaves them (the shifted sums of `channelSums` and its shift), or given. */
export type ChannelStats = { sums: ChunkSums; shift: Tensor } | { mean: Tensor; variance: Tensor };

/**
 * [4, C] f32 rows scale, shift, invstd, mean from the batch statistics or running ones:
 * invstd = 1 / sqrt(var + eps), scale = gamma invstd, shift = beta - mean scale; from chunk
 * sums of x - s and (x - s)^2 (s: `stats.shift`), mean = s + sum0 / n and var = sum1 / n -
 * (sum0 / n)^2 (biased). With `running`: running = (1 - momentum) running + momentum batch (the
 * variance unbiased). One dispatch.
 */
export function batchNormAffine(stats: ChannelStats, gamma: Tensor, beta: Tensor, eps: number, running: RunningStats | null): Tensor {
  const c = gamma.size;
  const out = Tensor.empty(gamma.engine, [4, c], 'f32', 'activations');
  const rows = [0, 1, 2, 3].map((i) => out.row(i));
  try {
    const roles: Record<string, Tensor> = { scale: rows[0], shift: rows[1], invstd: rows[2], mean: rows[3], gamma, beta };
    const sums = 'sums' in stats ? stats.sums : null;
    Object.assign(roles, 'sums' in stats ? { origin: stats.shift } : { given: stats.mean, variance: stats.variance });
    if (running) Object.assign(roles, { runMean: running.mean, runVar: running.variance });
    const unbias = running ? running.count / Math.max(running.count - 1, 1) : 0;
    const key = `bn-affine${running ? ':running' : ''}`;
    run('batchnorm affine', key, roles, [eps, running?.momentum ?? 0, unbias, sums ? 1 / sums.count : 0], (at) => `${
      sums
        ? `let d = sum0 * P.s3;
  let mean = ${at.origin('c')} + d;
  let variance = max(sum1 * P.s3 - d * d, 0.0);`
        : `let mean = ${at.given('c')};
  let variance = ${at.variance('c')};`
    }
  let invstd = inverseSqrt(variance + P.s0);
  let scale = ${at.gamma('c')} * invstd;
  ${at.scale('c')} = scale;
  ${at.shift('c')} = ${at.beta('c')} - mean * scale;
  ${at.invstd('c')} = invstd;
  ${at.mean('c')} = mean;${
    running
      ? `
  ${at.runMean('c')} = ${at.runMean('c')} * (1.0 - P.s1) + mean * P.s1;
  ${at.runVar('c')} = ${at.runVar('c')} * (1.0 - P.s1) + variance * (P.s1 * P.s2);`
      : ''
  }`, sums);
  } finally {
    for (const r of rows) r.dispose();
  }
  return out;
}

/**
 * From the chunk sums of (gu, gu (x - mean)) (`batchNormGradSums`) and the forward's [4, C]
 * affine rows (scale, shift, invstd, mean): coef = [3, C] rows a = scale, k, d with, in
 * training, k = -scale invstd^2 sum(gu (x - mean)) / n and d = -scale sum(gu) / n - k mean (0 and
 * 0 in eval: the statistics are constants), and when asked for dgamma = invstd sum(gu (x - mean))
 * and dbeta = sum(gu), each its own tensor (it becomes the parameter's gradient without a copy).
 * One dispatch, the chunks added in it.
 */
export function batchNormGradCoefs(sums: ChunkSums, affine: Tensor, training: boolean, wanted: { dgamma: boolean; dbeta: boolean }): { coef: Tensor; dgamma: Tensor | null; dbeta: Tensor | null } {
  const c = affine.shape[1];
  const coef = Tensor.empty(affine.engine, [3, c], 'f32', 'workspace');
  const dgamma = wanted.dgamma ? Tensor.empty(affine.engine, [c], 'f32', 'activations') : null;
  const dbeta = wanted.dbeta ? Tensor.empty(affine.engine, [c], 'f32', 'activations') : null;
  const views = [...[0, 1, 2].map((i) => coef.row(i)), ...[0, 2, 3].map((i) => affine.row(i))];
  const [a, k, d, scale, invstd, mean] = views;
  try {
    const roles: Record<string, Tensor> = { a, k, d, scale, invstd, mean, ...(dgamma ? { dgamma } : {}), ...(dbeta ? { dbeta } : {}) };
    const key = `bn-grad-coefs${training ? ':training' : ''}${dgamma ? ':dgamma' : ''}${dbeta ? ':dbeta' : ''}`;
    run('batchnorm grad coefs', key, roles, [1 / sums.count], (at) => `let scale = ${at.scale('c')};
  let invstd = ${at.invstd('c')};
  ${at.a('c')} = scale;${
    training
      ? `
  let k = -scale * invstd * invstd * sum1 * P.s0;
  ${at.k('c')} = k;
  ${at.d('c')} = -(scale * sum0 * P.s0) - k * ${at.mean('c')};`
      : `
  ${at.k('c')} = 0.0;
  ${at.d('c')} = 0.0;`
  }${dgamma ? `\n  ${at.dgamma('c')} = sum1 * invstd;` : ''}${dbeta ? `\n  ${at.dbeta('c')} = sum0;` : ''}`, sums);
  } finally {
    for (const v of views) v.dispose();
  }
  return { coef, dgamma, dbeta };
}
