import { it, expect } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { matmul, matmulPath } from '../../src/kernels/matmul.js';
import { matmulCpu } from '../../src/kernels/matmul.cpu.js';
import { randomData, testEngine, relL2, asStored } from '../helpers/gpu.js';
import { withEmulatedSubgroupMatrix } from '../helpers/subgroup-matrix-emulation.js';

it('smoke emu', async () => {
  const real = await testEngine();
  const engine = withEmulatedSubgroupMatrix(real, { M: 8, N: 8, K: 8 });
  expect(matmulPath(engine, 'f16', 'f16')).toBe('subgroup-matrix');
  for (const variant of ['2x2:32x32:32', '2x2:64x64:32']) {
    const [m, n, k] = [130, 65, 40];
    const da = asStored(randomData(m * k, 1), 'f16'), db = asStored(randomData(k * n, 2), 'f16');
    const a = Tensor.fromHost(engine, da, [m, k], 'f16', 'other');
    const b = Tensor.fromHost(engine, db, [k, n], 'f16', 'other');
    let t0 = performance.now();
    const c = matmul(a, b, { variant, outDtype: 'f32' }); await c.read(); console.log('compile+run', performance.now() - t0); t0 = performance.now(); const c2 = matmul(a, b, { variant, outDtype: 'f32' }); await c2.read(); console.log('run', performance.now() - t0);
    const got = await c.read();
    console.log(variant, 'first', performance.now() - t0);
    const ref = matmulCpu(hostTensor([m, k], da), hostTensor([k, n], db));
    console.log(relL2(got, ref.data));
    expect(relL2(got, ref.data)).toBeLessThan(1e-6);
  }
});
