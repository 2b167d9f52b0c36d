// Issue 3's measurement on the GPU host: a 20-block conv3x3 + BN + SiLU stack, batch 32,
// 160x160, 64 channels, trained with mean(y^2) and SGD: ms/step and peak bytes per category,
// f32 and f16 activations, with and without checkpointing. Prints a table; JSON to $OUT.
import { writeFileSync } from 'node:fs';
import { Engine } from '../../dist/src/gpu/engine.js';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { ConvStack, uniform } from '../../dist/src/nn/conv-stack.js';

// STACK_DIMS=N,H,C,DEPTH,STEPS overrides the sizes (a quick local check).
const [N, H, C, DEPTH, STEPS] = (process.env.STACK_DIMS ?? '32,160,64,20,10').split(',').map(Number);
const engine = await Engine.open();
const configs = [
  { dtype: 'f32', segment: 0 },
  { dtype: 'f32', segment: 3 },
  { dtype: 'f16', segment: 0 },
  { dtype: 'f16', segment: 3 },
];
const MB = (b) => (b / 2 ** 20).toFixed(0);
const rows = [];
const data = uniform(N * H * H * C, 3, 1);
for (const c of configs) {
  if (c.dtype === 'f16' && !engine.features.shaderF16) continue;
  const stack = new ConvStack(engine, DEPTH, C, 1);
  const x = Tensor.fromHost(engine, data, [N, H, H, C], c.dtype, 'input');
  const o = { segment: c.segment, lossScale: c.dtype === 'f16' ? 1024 : 1 };
  // Warm up (pipelines, optimizer state, GPU clocks), then time STEPS steps end to end.
  const warm = performance.now();
  while (performance.now() - warm < 1500) {
    stack.step(x, o).dispose();
    await engine.sync();
  }
  engine.arena.resetPeak();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) stack.step(x, o).dispose();
  await engine.sync();
  const ms = (performance.now() - t0) / STEPS;
  const s = engine.stats();
  // One more step with per-dispatch timestamps: where the time goes, by kernel name.
  engine.setProfiling(true);
  stack.step(x, o).dispose();
  const byKernel = {};
  for (const t of await engine.kernelTimings()) byKernel[t.name] = (byKernel[t.name] ?? 0) + t.ns / 1e6;
  engine.setProfiling(false);
  const profile = Object.entries(byKernel).sort((a, b) => b[1] - a[1]);
  rows.push({ ...c, msPerStep: ms, peakBytes: s.peakBytes, peak: s.peak, atPeak: s.atPeak, profile });
  x.dispose();
  stack.dispose();
  engine.arena.releaseEmptySegments();
}
writeFileSync(`${process.env.OUT ?? '.'}/stack.json`, JSON.stringify(rows, null, 2));
console.log('dtype  ckpt  ms/step  total-peak-MB  activations-MB  workspace-MB  params-MB  grads-MB  optimizer-MB');
for (const r of rows) {
  console.log(`${r.dtype}    ${r.segment ? `/${r.segment}` : 'none'}  ${r.msPerStep.toFixed(1).padStart(7)}  ${MB(r.peakBytes).padStart(13)}  ${MB(r.peak.activations).padStart(14)}  ${MB(r.peak.workspace).padStart(12)}  ${MB(r.peak.params).padStart(9)}  ${MB(r.peak.grads).padStart(8)}  ${MB(r.peak.optimizer).padStart(12)}`);
}
for (const r of rows) {
  console.log(`profile ${r.dtype} ckpt ${r.segment || 'none'}: ${r.profile.slice(0, 6).map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join(' | ')}`);
}
engine.destroy();
