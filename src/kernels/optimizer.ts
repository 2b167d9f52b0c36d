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
}

/**
 * The optimizer kernels read the f32 `control` tensor [gradMul, skip, norm, steps] that
 * `gradientControl` writes on the GPU: control[0] multiplies every gradient (clipping
 * coefficient / loss scale), control[1] != 0 skips the update (a non-finite gradient under
 * f16 loss scaling), control[3] counts the steps taken, this one included (AdamW's bias
 * correction). Keeping these on the GPU means a step needs no readback.
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
  launch(
    engine,
    {
      key: 'optim:adamw',
      name: 'adamw update',
      build: () => /* wgsl */ `
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, decay: f32, logBeta1: f32, logBeta2: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
${CONTROL_WGSL}
${linearIndexWgsl(WG)}
// 1 - beta^t = -expm1(t log beta), without the cancellation of 1 - pow(beta, t) in f32
// (1 - 0.999 is off by 1e-5 relative once 0.999 is rounded to f32): a series while small.
fn biasCorrection(logBeta: f32, t: f32) -> f32 {
  let x = t * logBeta;
  if (x < -0.1) { return 1.0 - exp(x); }
  return -x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0))));
}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n || skipStep()) { return; }
  let g = gradAt(i);
  let mi = P.beta1 * m[i] + (1.0 - P.beta1) * g;
  let vi = P.beta2 * v[i] + (1.0 - P.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let t = control[3];
  let stepSize = P.lr / biasCorrection(P.logBeta1, t);
  let sqrtC2 = sqrt(biasCorrection(P.logBeta2, t));
  let p = param[i] * P.decay;
  param[i] = p - stepSize * mi / (sqrt(vi) / sqrtC2 + P.eps);
}`,
    },
    [control, param, grad, m, v],
    new Params().u32(param.size).f32(h.lr, h.beta1, h.beta2, h.eps, 1 - h.lr * h.weightDecay, Math.log(h.beta1), Math.log(h.beta2)),
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
