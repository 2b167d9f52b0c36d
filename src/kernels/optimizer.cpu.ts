import type { AdamWHyper, SgdHyper } from './optimizer.js';

/** CPU references of the optimizer kernels, updating the arrays in place (float64). */
export function sgdUpdateCpu(param: Float64Array, grad: Float64Array, buf: Float64Array, gradMul: number, h: SgdHyper): void {
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradMul + h.weightDecay * param[i];
    buf[i] = h.momentum * buf[i] + g;
    const d = h.nesterov ? g + h.momentum * buf[i] : buf[i];
    param[i] -= h.lr * d;
  }
}

/** `step`: the 1-based count of steps taken (the GPU kernel reads it from its control tensor). */
export function adamwUpdateCpu(param: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, gradMul: number, h: AdamWHyper & { step: number }): void {
  const c1 = 1 - h.beta1 ** h.step;
  const c2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradMul;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    param[i] *= 1 - h.lr * h.weightDecay;
    param[i] -= ((h.lr / c1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(c2) + h.eps);
  }
}

export function emaUpdateCpu(ema: Float64Array, value: Float64Array, decay: number): void {
  for (let i = 0; i < ema.length; i++) ema[i] = decay * ema[i] + (1 - decay) * value[i];
}
