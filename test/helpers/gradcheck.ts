import { expect } from 'vitest';
import { backward } from '../../src/autograd/backward.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { tidy } from '../../src/gpu/scope.js';
import { Tensor } from '../../src/gpu/tensor.js';
import type { HostTensor } from '../../src/kernels/host-tensor.js';
import { randomData, relL2 } from './gpu.js';

/**
 * Checks an autograd op against central finite differences of its CPU reference in
 * float64: loss = sum(w * op(inputs)) with random w, so every output element matters.
 */
export async function gradcheck(
  engine: Engine,
  op: (...xs: Var[]) => Var,
  reference: (...xs: HostTensor[]) => HostTensor,
  shapes: number[][],
  seed: number,
  tolerance = 2e-3,
): Promise<void> {
  const hosts = shapes.map((s, i) => ({ shape: s, data: Float64Array.from(randomData(s.reduce((a, b) => a * b, 1), seed + i, -1.5, 1.5)) }));
  const vars = hosts.map((h) => new Var(Tensor.fromHost(engine, Float32Array.from(h.data), h.shape, 'f32', 'params'), true));
  const out = tidy(() => op(...vars));
  const w = randomData(out.data.size, seed + 100);
  const seedT = Tensor.fromHost(engine, w, out.shape, 'f32', 'other');
  backward(out, seedT);
  const loss = (xs: HostTensor[]) => reference(...xs).data.reduce((s, y, i) => s + y * w[i], 0);
  const h = 1e-5;
  for (let k = 0; k < hosts.length; k++) {
    const numeric = new Float64Array(hosts[k].data.length);
    for (let i = 0; i < numeric.length; i++) {
      const saved = hosts[k].data[i];
      hosts[k].data[i] = saved + h;
      const up = loss(hosts);
      hosts[k].data[i] = saved - h;
      const down = loss(hosts);
      hosts[k].data[i] = saved;
      numeric[i] = (up - down) / (2 * h);
    }
    expect(vars[k].grad, `input ${k} got no gradient`).not.toBeNull();
    const analytic = await vars[k].grad!.read();
    expect(relL2(analytic, numeric), `input ${k}`).toBeLessThan(tolerance);
  }
  out.dispose();
  seedT.dispose();
  for (const v of vars) v.dispose();
}
