import { Tensor } from '../gpu/tensor.js';
import { distinctBindings, grid1d, launch, Params } from './launch.js';

/**
 * BatchNorm's per-channel arithmetic, one small dispatch each (as separate elementwise
 * launches it was 11 per layer, a third of a yolov8n training step's dispatches):
 *  - `batchNormAffine`: invstd = 1 / sqrt(var + eps), scale = gamma invstd, shift = beta -
 *    mean scale, and in training the running-statistics update (momentum, unbiased variance);
 *  - `batchNormGradCoefs`: dgamma = invstd sum(gu (x - mean)), dbeta = sum(gu) and the
 *    coefficients of dx = gu a + x k + d (see `batchNormGradApply`).
 * All operands are f32 vectors of C channels (views; they may share storages).
 */

const WG = 64;

/** Binds `roles` (storage shared where it is), returning the WGSL accessor of each role by name. */
function bindRoles(op: string, roles: Record<string, Tensor>): { tensors: Tensor[]; decls: string; at: Record<string, (i: string) => string>; slots: string; offsets: number[] } {
  const entries = Object.entries(roles);
  for (const [name, t] of entries) {
    if (t.dtype !== 'f32' || t.rank !== 1 || (t.size > 1 && t.strides[0] !== 1)) throw new Error(`${op}: ${name} must be a contiguous f32 vector, got [${t.shape}] ${t.dtype}`);
  }
  const { bound, slot } = distinctBindings(op, entries.map(([, t]) => t));
  const at: Record<string, (i: string) => string> = {};
  entries.forEach(([name, t], r) => (at[name] = (i) => `b${slot(t)}[P.off[${r >> 2}][${r & 3}] + ${i}]`));
  return {
    tensors: bound,
    decls: bound.map((_, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> b${b}: array<f32>;`).join('\n'),
    at,
    slots: entries.map(([, t]) => slot(t)).join(''),
    offsets: entries.map(([, t]) => t.offset),
  };
}

function run(op: string, key: string, roles: Record<string, Tensor>, scalars: number[], body: (at: Record<string, (i: string) => string>) => string): void {
  const { size: c, engine } = Object.values(roles)[0];
  for (const [name, t] of Object.entries(roles)) if (t.size !== c) throw new Error(`${op}: ${name} has ${t.size} channels, expected ${c}`);
  const b = bindRoles(op, roles);
  const words = Math.ceil(b.offsets.length / 4);
  const build = () => /* wgsl */ `struct Params { C: u32, s0: f32, s1: f32, s2: f32, off: array<vec4<u32>, ${words}> }
@group(0) @binding(0) var<uniform> P: Params;
${b.decls}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= P.C) { return; }
  ${body(b.at)}
}`;
  const params = new Params().u32(c).f32(...scalars, ...new Array(3 - scalars.length).fill(0)).u32(...b.offsets).align4();
  launch(engine, { key: `${key}:${b.slots}`, name: op, build }, b.tensors, params, grid1d(engine, c, WG));
}

export interface RunningStats {
  mean: Tensor;
  variance: Tensor;
  momentum: number;
  /** Elements per channel in the batch (the variance enters unbiased, n / (n - 1)). */
  count: number;
}

/**
 * [3, C] f32 rows scale, shift, invstd from batch or running statistics; with `running`,
 * running = (1 - momentum) running + momentum batch, in the same dispatch.
 */
export function batchNormAffine(mean: Tensor, variance: Tensor, gamma: Tensor, beta: Tensor, eps: number, running: RunningStats | null): Tensor {
  const c = mean.size;
  const out = Tensor.empty(mean.engine, [3, c], 'f32', 'activations');
  const rows = [0, 1, 2].map((i) => out.row(i));
  try {
    const roles: Record<string, Tensor> = { scale: rows[0], shift: rows[1], invstd: rows[2], mean, variance, gamma, beta };
    if (running) Object.assign(roles, { runMean: running.mean, runVar: running.variance });
    const unbias = running ? running.count / Math.max(running.count - 1, 1) : 0;
    run('batchnorm affine', `bn-affine${running ? ':running' : ''}`, roles, [eps, running?.momentum ?? 0, unbias], (at) => `let mean = ${at.mean('c')};
  let variance = ${at.variance('c')};
  let invstd = inverseSqrt(variance + P.s0);
  let scale = ${at.gamma('c')} * invstd;
  ${at.scale('c')} = scale;
  ${at.shift('c')} = ${at.beta('c')} - mean * scale;
  ${at.invstd('c')} = invstd;${
    running
      ? `
  ${at.runMean('c')} = ${at.runMean('c')} * (1.0 - P.s1) + mean * P.s1;
  ${at.runVar('c')} = ${at.runVar('c')} * (1.0 - P.s1) + variance * (P.s1 * P.s2);`
      : ''
  }`);
  } finally {
    for (const r of rows) r.dispose();
  }
  return out;
}

/**
 * From sums = [2, C] (sum gu, sum gu (x - mean)) and the forward's affine rows: coef =
 * [3, C] rows a = scale, k, d with, in training, k = -scale invstd^2 sum(gu (x - mean)) / n
 * and d = -scale sum(gu) / n - k mean (0 and 0 in eval: the statistics are constants), and
 * when asked for dgamma = invstd sum(gu (x - mean)) and dbeta = sum(gu), each its own
 * tensor (it becomes the parameter's gradient without a copy).
 */
export function batchNormGradCoefs(
  sums: Tensor,
  affine: Tensor,
  mean: Tensor,
  count: number,
  training: boolean,
  wanted: { dgamma: boolean; dbeta: boolean },
): { coef: Tensor; dgamma: Tensor | null; dbeta: Tensor | null } {
  const c = mean.size;
  const coef = Tensor.empty(mean.engine, [3, c], 'f32', 'workspace');
  const dgamma = wanted.dgamma ? Tensor.empty(mean.engine, [c], 'f32', 'activations') : null;
  const dbeta = wanted.dbeta ? Tensor.empty(mean.engine, [c], 'f32', 'activations') : null;
  const views = [...[0, 1, 2].map((i) => coef.row(i)), ...[0, 1].map((i) => sums.row(i)), ...[0, 2].map((i) => affine.row(i))];
  const [a, k, d, sumGu, sumGuX, scale, invstd] = views;
  try {
    const roles: Record<string, Tensor> = { a, k, d, sumGu, sumGuX, scale, invstd, mean, ...(dgamma ? { dgamma } : {}), ...(dbeta ? { dbeta } : {}) };
    const key = `bn-grad-coefs${training ? ':training' : ''}${dgamma ? ':dgamma' : ''}${dbeta ? ':dbeta' : ''}`;
    run('batchnorm grad coefs', key, roles, [1 / count], (at) => `let scale = ${at.scale('c')};
  let invstd = ${at.invstd('c')};
  let sumGuX = ${at.sumGuX('c')};
  ${at.a('c')} = scale;${
    training
      ? `
  let k = -scale * invstd * invstd * sumGuX * P.s0;
  ${at.k('c')} = k;
  ${at.d('c')} = -(scale * ${at.sumGu('c')} * P.s0) - k * ${at.mean('c')};`
      : `
  ${at.k('c')} = 0.0;
  ${at.d('c')} = 0.0;`
  }${dgamma ? `\n  ${at.dgamma('c')} = sumGuX * invstd;` : ''}${dbeta ? `\n  ${at.dbeta('c')} = ${at.sumGu('c')};` : ''}`);
  } finally {
    for (const v of views) v.dispose();
  }
  return { coef, dgamma, dbeta };
}
