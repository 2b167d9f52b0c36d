import type { Tensor } from '../gpu/tensor.js';
import { grid1d, launch, linearIndexWgsl, Params } from './launch.js';

const WG = 256;

export interface SgdHyper {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/**
 * The optimizer kernels read a 2-element f32 `control` tensor written on the GPU:
 * control[0] multiplies every gradient (gradient-clipping coefficient / loss scale),
 * control[1] != 0 skips the update (a non-finite gradient under f16 loss scaling).
 * Keeping these on the GPU means a step needs no readback.
 */
const CONTROL_WGSL = /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> control: array<f32>;
fn skipStep() -> bool { return control[1] != 0.0; }
fn gradAt(i: u32) -> f32 { return grad[i] * control[0]; }
`;

function checkSameShape(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!t.isContiguous() || t.dtype !== 'f32' || t.size !== ts[0].size) {
      throw new Error(`${op}: parameters, gradients and state must be contiguous f32 tensors of one size`);
    }
  }
}

/** SGD with momentum (PyTorch semantics: buf = m*buf + g; nesterov uses g + m*buf), L2 weight decay. */
export function sgdUpdate(param: Tensor, grad: Tensor, buf: Tensor, control: Tensor, h: SgdHyper): void {
  checkSameShape('sgd', param, grad, buf);
  const engine = param.engine;
  launch(
    engine,
    {
      key: 'optim:sgd',
      name: 'sgd update',
      build: () => /* wgsl */ `
struct Params { n: u32, lr: f32, momentum: f32, weightDecay: f32, nesterov: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> buf: array<f32>;
${CONTROL_WGSL}
${linearIndexWgsl(WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n || skipStep()) { return; }
  let g = gradAt(i) + P.weightDecay * param[i];
  let b = P.momentum * buf[i] + g;
  buf[i] = b;
  let d = select(b, g + P.momentum * b, P.nesterov != 0u);
  param[i] = param[i] - P.lr * d;
}`,
    },
    [control, param, grad, buf],
    new Params().u32(param.size).f32(h.lr, h.momentum, h.weightDecay).u32(h.nesterov ? 1 : 0),
    grid1d(engine, param.size, WG),
  );
}

/** AdamW (PyTorch semantics): decoupled weight decay, bias-corrected moments. */
export function adamwUpdate(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, control: Tensor, h: AdamWHyper): void {
  checkSameShape('adamw', param, grad, m, v);
  const engine = param.engine;
  const c1 = 1 - h.beta1 ** h.step;
  const c2 = 1 - h.beta2 ** h.step;
  launch(
    engine,
    {
      key: 'optim:adamw',
      name: 'adamw update',
      build: () => /* wgsl */ `
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, decay: f32, stepSize: f32, sqrtC2: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
${CONTROL_WGSL}
${linearIndexWgsl(WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n || skipStep()) { return; }
  let g = gradAt(i);
  let mi = P.beta1 * m[i] + (1.0 - P.beta1) * g;
  let vi = P.beta2 * v[i] + (1.0 - P.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let p = param[i] * P.decay;
  param[i] = p - P.stepSize * mi / (sqrt(vi) / P.sqrtC2 + P.eps);
}`,
    },
    [control, param, grad, m, v],
    new Params().u32(param.size).f32(h.lr, h.beta1, h.beta2, h.eps, 1 - h.lr * h.weightDecay, h.lr / c1, Math.sqrt(c2)),
    grid1d(engine, param.size, WG),
  );
}

/** Exponential moving average: ema = decay * ema + (1 - decay) * value (weights and BN buffers). */
export function emaUpdate(ema: Tensor, value: Tensor, decay: number): void {
  checkSameShape('ema', ema, value);
  const engine = ema.engine;
  launch(
    engine,
    {
      key: 'optim:ema',
      name: 'ema update',
      build: () => /* wgsl */ `
struct Params { n: u32, decay: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> ema: array<f32>;
@group(0) @binding(2) var<storage, read_write> value: array<f32>;
${linearIndexWgsl(WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  ema[i] = P.decay * ema[i] + (1.0 - P.decay) * value[i];
}`,
    },
    [ema, value],
    new Params().u32(ema.size).f32(decay),
    grid1d(engine, ema.size, WG),
  );
}
