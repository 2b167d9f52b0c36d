import type { Tensor } from '../gpu/tensor.js';
import { recordBatch, rowwiseMainWgsl, segmentBatches } from './segment-batch.js';

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
 *
 * Updates are multi-tensor batches (segment-batch.ts): every parameter of a model in one
 * dispatch per set of arena segments. Rows carry their hyperparameters' index (a parameter
 * group's); up to MAX_HYPERS distinct ones per dispatch.
 */
const MAX_HYPERS = 4;
/** Elements a workgroup updates (4 per thread). */
const CHUNK = WG * 4;

/** One parameter's update: the parameter, its gradient, its state tensors, its group's hyperparameters. */
export interface UpdateRow<H> {
  param: Tensor;
  grad: Tensor;
  state: readonly Tensor[];
  h: H;
}

function checkSameShape(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!t.isContiguous() || t.dtype !== 'f32' || t.size !== ts[0].size) {
      throw new Error(`${op}: parameters, gradients and state must be contiguous f32 tensors of one size`);
    }
  }
}

const CONTROL_WGSL = /* wgsl */ `
fn skipStep() -> bool { return loadShared0(1u) != 0.0; }
fn gradAt(row: u32, i: u32) -> f32 { return load1(row, i) * loadShared0(0u); }
`;

/**
 * Records `rows` as batched dispatches of the kernel whose per-element body is `body` (WGSL
 * using row, i, the loads/stores of segment-batch and `H` = the row's hyperparameter vec4s);
 * `hyperWords` flattens one H into 4·`vec4s` f32 words.
 */
function updateBatches<H>(
  rows: readonly UpdateRow<H>[],
  control: Tensor,
  kernel: { key: string; name: string; vec4s: number; body: string; prelude?: string },
  hyperWords: (h: H) => number[],
): void {
  if (rows.length === 0) return;
  const engine = control.engine;
  for (const r of rows) checkSameShape(kernel.name, r.param, r.grad, ...r.state);
  for (let from = 0; from < rows.length; ) {
    // Rows up to the one that would bring a (MAX_HYPERS + 1)th distinct set of hyperparameters.
    const hypers: H[] = [];
    let to = from;
    for (; to < rows.length; to++) {
      if (!hypers.includes(rows[to].h)) {
        if (hypers.length === MAX_HYPERS) break;
        hypers.push(rows[to].h);
      }
    }
    const part = rows.slice(from, to);
    const batches = segmentBatches(
      part.map((r) => ({ tensors: [r.param, r.grad, ...r.state], extra: [hypers.indexOf(r.h)] })),
      [control],
      CHUNK,
      WG,
    );
    for (const b of batches) {
      recordBatch(
        engine,
        b,
        {
          key: kernel.key,
          name: kernel.name,
          fields: `hyper: array<vec4<f32>, ${MAX_HYPERS * kernel.vec4s}>`,
          code: () => `${CONTROL_WGSL}
${kernel.prelude ?? ''}
${rowwiseMainWgsl(WG, kernel.body, `  if (skipStep()) { return; }\n  let hyper = rowExtra(row, 0u) * ${kernel.vec4s}u;`)}`,
        },
        (p) => p.align4().f32(...hypers.flatMap(hyperWords), ...new Array<number>((MAX_HYPERS - hypers.length) * 4 * kernel.vec4s).fill(0)),
      );
      b.table.dispose();
    }
    from = to;
  }
}

/** SGD with momentum (PyTorch semantics: buf = m*buf + g; nesterov uses g + m*buf), L2 weight decay; state [buf]. */
export function sgdUpdateMany(rows: readonly UpdateRow<SgdHyper>[], control: Tensor): void {
  updateBatches(
    rows,
    control,
    {
      key: 'optim:sgd',
      name: 'sgd update',
      vec4s: 1,
      // H = (lr, momentum, weightDecay, nesterov)
      body: /* wgsl */ `
      let H = P.hyper[hyper];
      let param = load0(row, i);
      let g = gradAt(row, i) + H.z * param;
      let b = H.y * load2(row, i) + g;
      store2(row, i, b);
      let d = select(b, g + H.y * b, H.w != 0.0);
      store0(row, i, param - H.x * d);`,
    },
    (h) => [h.lr, h.momentum, h.weightDecay, h.nesterov ? 1 : 0],
  );
}

export function sgdUpdate(param: Tensor, grad: Tensor, buf: Tensor, control: Tensor, h: SgdHyper): void {
  sgdUpdateMany([{ param, grad, state: [buf], h }], control);
}

/** AdamW (PyTorch semantics): decoupled weight decay, bias-corrected moments; state [m, v]. */
export function adamwUpdateMany(rows: readonly UpdateRow<AdamWHyper>[], control: Tensor): void {
  updateBatches(
    rows,
    control,
    {
      key: 'optim:adamw',
      name: 'adamw update',
      vec4s: 2,
      // 1 - beta^t = -expm1(t log beta), without the cancellation of 1 - pow(beta, t) in f32
      // (1 - 0.999 is off by 1e-5 relative once 0.999 is rounded to f32): a series while small.
      prelude: /* wgsl */ `
fn biasCorrection(logBeta: f32, t: f32) -> f32 {
  let x = t * logBeta;
  if (x < -0.1) { return 1.0 - exp(x); }
  return -x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0))));
}`,
      // H0 = (lr, beta1, beta2, eps), H1 = (decay factor 1 - lr·wd, log beta1, log beta2, 0)
      body: /* wgsl */ `
      let H0 = P.hyper[hyper];
      let H1 = P.hyper[hyper + 1u];
      let g = gradAt(row, i);
      let mi = H0.y * load2(row, i) + (1.0 - H0.y) * g;
      let vi = H0.z * load3(row, i) + (1.0 - H0.z) * g * g;
      store2(row, i, mi);
      store3(row, i, vi);
      let t = loadShared0(3u);
      let stepSize = H0.x / biasCorrection(H1.y, t);
      let sqrtC2 = sqrt(biasCorrection(H1.z, t));
      let p = load0(row, i) * H1.x;
      store0(row, i, p - stepSize * mi / (sqrt(vi) / sqrtC2 + H0.w));`,
    },
    (h) => [h.lr, h.beta1, h.beta2, h.eps, 1 - h.lr * h.weightDecay, Math.log(h.beta1), Math.log(h.beta2), 0],
  );
}

export function adamwUpdate(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, control: Tensor, h: AdamWHyper): void {
  adamwUpdateMany([{ param, grad, state: [m, v], h }], control);
}
