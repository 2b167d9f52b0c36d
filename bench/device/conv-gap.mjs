// Where the conv time goes: each conv next to a plain matmul of the same GEMM shape
// (M = N*Ho*Wo, N = Cout, K = KH*KW*Cin) on the same SIMT core. If the matmul is fast and
// the conv slow, the cost is the implicit-GEMM gather; if both are slow, it is the tile shape.
import { Engine } from '../../dist/src/gpu/engine.js';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { conv2d } from '../../dist/src/kernels/conv2d.js';
import { matmul } from '../../dist/src/kernels/matmul.js';
import { benchData, medianMs } from '../../dist/src/kernels/bench/timing.js';

const engine = await Engine.open();
const cases = [
  ['model.6.cv2 1x1 256->128 @40', 16, 40, 256, 128, 1, 1],
  ['model.6.m 3x3 64->64 @40', 16, 40, 64, 64, 3, 1],
  ['model.22.cv3.0.1 3x3 80->80 @80', 16, 80, 80, 80, 3, 1],
  ['model.1 3x3 16->32 s2 @320', 16, 320, 16, 32, 3, 2],
];
console.log('case                               conv ms  conv TF  gemm ms  gemm TF');
for (const [name, n, h, cin, cout, k, s] of cases) {
  const x = Tensor.fromHost(engine, benchData(n * h * h * cin, 1), [n, h, h, cin], 'f32', 'input');
  const w = Tensor.fromHost(engine, benchData(cout * k * k * cin, 2), [cout, k, k, cin], 'f32', 'params');
  const ho = Math.floor((h + 2 * (k >> 1) - k) / s) + 1;
  const out = Tensor.empty(engine, [n, ho, ho, cout], 'f32', 'activations');
  const convMs = await medianMs(engine, () => conv2d(x, w, { stride: s, padding: k >> 1, out }), 10);
  const M = n * ho * ho, K = k * k * cin;
  const a = Tensor.fromHost(engine, benchData(M * K, 3), [M, K], 'f32', 'input');
  const b = Tensor.fromHost(engine, benchData(K * cout, 4), [cout, K], 'f32', 'params');
  const c = Tensor.empty(engine, [M, cout], 'f32', 'activations');
  const gemmMs = await medianMs(engine, () => matmul(a, b, { transposeB: true, out: c }), 10);
  const tf = (ms) => ((2 * M * K * cout) / ms / 1e9).toFixed(1);
  console.log(`${name.padEnd(34)} ${convMs.toFixed(3).padStart(7)}  ${tf(convMs).padStart(7)}  ${gemmMs.toFixed(3).padStart(7)}  ${tf(gemmMs).padStart(7)}`);
  for (const t of [x, w, out, a, b, c]) t.dispose();
}
engine.destroy();
