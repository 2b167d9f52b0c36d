// Tile sweep of conv2d over yolov8n's forward convolutions (batch 16, 640x640): for each
// shape, the default tile choice next to forced variants, each verified on sampled outputs.
// Prints per shape the default and the best variant, and the time-weighted totals, so the
// choice in chooseConvTiles (src/kernels/conv2d.ts) can be set from measurements.
//
//   node bench/device/conv-sweep.mjs [f32|f16] [--batch 16] [--reps 10] [--only model.1,model.3] [--variants V1,V2] [--json $OUT/conv-sweep.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { Engine } from '../../dist/src/gpu/engine.js';
import { sweepConv } from '../../dist/src/kernels/bench/conv-bench.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const dtype = args[0] === 'f16' ? 'f16' : 'f32';
const batch = Number(opt('--batch', '16'));
const reps = Number(opt('--reps', '10'));
const only = opt('--only', null)?.split(',');
const json = opt('--json', null);
// --variants a,b,c replaces the built-in list (e.g. to time the default against a few forced choices).
const chosen = opt('--variants', null)?.split(',');

// BMxBN:TMxTN:BK[/buffers][u] (staging buffers: 2 when they fit). Any variant is correct for any shape.
const VARIANTS = [
  '128x128:8x8:8', '128x128:8x8:16', '128x64:8x8:16', '128x64:4x8:16', '64x128:4x8:16', '64x64:4x4:16',
  '128x80:8x8:16', '64x80:4x8:16', '128x32:4x4:16', '128x32:8x4:16', '256x32:8x4:16', '128x16:4x4:16',
  '128x16:4x4:8', '256x16:8x4:16', '64x32:4x4:16', '128x128:8x8:16/1', '32x64:4x8:16', '32x128:4x8:16',
  // k-step loop unrolled at generation (the default leaves it to the driver)
  '128x128:8x8:8/2u', '128x64:8x8:16/2u', '128x80:8x8:16/2u', '128x32:4x4:16/2u', '128x16:4x4:16/2u',
];

const shapes = JSON.parse(readFileSync(new URL('../shapes/yolov8n-convs.json', import.meta.url), 'utf8'));
const engine = await Engine.open();
const rows = [];
let totalDefault = 0;
let totalBest = 0;
console.log(`conv2d tile sweep, ${dtype}, batch ${batch}, ${engine.gpu?.adapterInfo?.description ?? ''}`);
console.log('layer              x  default ms  best ms  best variant        max rel err');
for (const s of shapes) {
  if (only && !only.includes(s.name)) continue;
  const c = { n: batch, h: s.h, w: s.w, cin: s.cin, cout: s.cout, k: s.k, stride: s.stride, pad: s.pad, groups: s.groups, dtype, reps };
  const variants = [undefined, ...(chosen ?? VARIANTS)];
  const results = await sweepConv(engine, c, variants);
  const timed = results.map((r, i) => ({ variant: variants[i] ?? 'default', ...r }));
  const ok = timed.filter((r) => r.maxRelErr < (dtype === 'f16' ? 1e-2 : 1e-5));
  const best = ok.reduce((a, b) => (b.ms < a.ms ? b : a), ok[0] ?? timed[0]);
  const worstErr = Math.max(...timed.map((r) => r.maxRelErr));
  totalDefault += timed[0].ms * s.count;
  totalBest += best.ms * s.count;
  rows.push({ name: s.name, count: s.count, results: timed });
  console.log(
    `${s.name.padEnd(18)} ${String(s.count).padStart(1)}  ${timed[0].ms.toFixed(3).padStart(10)}  ${best.ms.toFixed(3).padStart(7)}  ${best.variant.padEnd(18)}  ${worstErr.toExponential(1)}${ok.length < timed.length ? '  SOME VARIANTS FAILED VERIFICATION' : ''}`,
  );
}
console.log(`time-weighted total: default ${totalDefault.toFixed(2)} ms, best-per-layer ${totalBest.toFixed(2)} ms`);
if (json) writeFileSync(json, JSON.stringify({ dtype, batch, reps, rows }, null, 1));
engine.destroy();
