import { it } from 'vitest';
import { elementwise } from '../../src/kernels/elementwise.js';
import { copy, fill } from '../../src/kernels/copy.js';
import { randomData, tensorWithLayout, testEngine } from '../helpers/gpu.js';

it('prof', async () => {
  const engine = await testEngine();
  const x = tensorWithLayout(engine, randomData(105, 1), [3, 5, 7], 'f32', 'contiguous');
  const xs = tensorWithLayout(engine, randomData(105, 1), [3, 5, 7], 'f32', 'permuted');
  await x.read();
  const time = async (name: string, f: () => any) => {
    const t0 = performance.now();
    const y = f();
    await y.read();
    console.log(name, (performance.now() - t0).toFixed(1), 'ms');
    y.dispose();
  };
  for (let k = 0; k < 3; k++) {
    await time('copy f32->f32 (first time only compiles)', () => copy(x, 'other', 'f32'));
    await time(`dense ${k}`, () => elementwise(`x0 + ${k}.0`, [x]));
    await time(`strided ${k}`, () => elementwise(`x0 + ${k}.0`, [xs]));
    await time(`copy f16 ${k}`, () => copy(k === 0 ? x : k === 1 ? xs : x, 'other', k === 2 ? 'u32' : 'f16'));
  }
});
