// Measures where matmul 4096^3 time goes: the full kernel vs the same kernel with the
// global loads inside the k loop removed (tiles staged once, inner loop only). If the
// compute-only variant is not much faster, the inner loop (workgroup-memory reads and
// math issue) is the limit, not device-memory traffic.
import { Engine } from '../../dist/src/gpu/engine.js';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { matmul } from '../../dist/src/kernels/matmul.js';
import { benchData, medianMs } from '../../dist/src/kernels/bench/timing.js';

const engine = await Engine.open();
const n = 4096;
console.log('path              dtype  full ms  full TF  inner-loop-only ms  TF');
for (const [dtype, path] of [['f32', 'simt'], ['f16', 'simt'], ['f16', 'subgroup-matrix']]) {
  const a = Tensor.fromHost(engine, benchData(n * n, 1), [n, n], dtype, 'input');
  const b = Tensor.fromHost(engine, benchData(n * n, 2), [n, n], dtype, 'input');
  const c = Tensor.empty(engine, [n, n], 'f32', 'activations');
  const full = await medianMs(engine, () => matmul(a, b, { out: c, path }), 20);
  const inner = await medianMs(engine, () => matmul(a, b, { out: c, path, computeOnly: true }), 20);
  const tf = (ms) => ((2 * n ** 3) / ms / 1e9).toFixed(1);
  console.log(`${path.padEnd(17)} ${dtype}   ${full.toFixed(3).padStart(6)}  ${tf(full).padStart(6)}  ${inner.toFixed(3).padStart(18)}  ${tf(inner).padStart(5)}`);
  for (const t of [a, b, c]) t.dispose();
}
engine.destroy();
