// In-step tuning of the tensor-core convolution tiles (bench/device/tc-step.sh): every tile is timed where it
// runs in the training step (operands coming from memory, the step's own L2 traffic), not in isolation.
//
//   node bench/device/step-tables.mjs candidates STEP.json DIR
//     From a profiled `bench step --json` (its per-shape convolution times), writes DIR/cand-1.json ... cand-K.json:
//     table i gives every f16 convolution shape its i-th tile candidate (tile-candidates.mjs) among those this
//     device can run (the checks bench step applies to a table); prints K.
//   node bench/device/step-tables.mjs best OUT.json STEP.json...
//     From profiled steps, each run with a table (--conv-variants) or with the kernel defaults, writes the fastest
//     variant per shape as a table for `bench step --conv-variants` (shapes where the default won are left out);
//     prints time per operation: SIMT only, the default kernels, tuned.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../dist/src/gpu/engine.js';
import { checkConvVariant } from '../../dist/src/kernels/conv2d.js';
import { checkWeightGradVariant } from '../../dist/src/kernels/conv2d-backward.js';
import { candidatesForKey } from './tile-candidates.mjs';

const [command, ...args] = process.argv.slice(2);
const read = (path) => JSON.parse(readFileSync(path, 'utf8'));

/**
 * Per-shape GPU ms of one profiled step and the variant each shape ran with: its table entry, else `simt` in a
 * SIMT-only run, else `default` (the engine's own choice, which a table expresses by leaving the shape out).
 */
function shapeTimes(path) {
  const step = read(path);
  if (!step.profile) throw new Error(`${path}: no profile (the adapter has no timestamp queries)`);
  const table = step.convVariants ? read(step.convVariants) : {};
  const fallback = step.convKernels === 'simt' ? 'simt' : 'default';
  return step.profile.operations.map((o) => ({ key: o.tag, ms: o.ms, variant: table[o.tag] ?? fallback }));
}

if (command === 'candidates') {
  const [stepPath, dir] = args;
  const keys = shapeTimes(stepPath).map((s) => s.key).filter((k) => k.includes(':f16:'));
  const engine = await Engine.open({});
  const dropped = new Map();
  const runs = (key, variant) => {
    try {
      (key.startsWith('conv2dWeightGrad:') ? checkWeightGradVariant : checkConvVariant)(engine, 'f16', variant);
      return true;
    } catch (e) {
      dropped.set(e.message, (dropped.get(e.message) ?? 0) + 1);
      return false;
    }
  };
  const lists = keys.map((k) => candidatesForKey(k).filter((v) => runs(k, v)));
  engine.destroy();
  for (const [why, n] of dropped) console.error(`dropped for ${n} shapes: ${why}`);
  const count = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < count; i++) {
    const table = Object.fromEntries(keys.flatMap((k, j) => (lists[j][i] ? [[k, lists[j][i]]] : [])));
    writeFileSync(join(dir, `cand-${i + 1}.json`), JSON.stringify(table, null, 1));
  }
  console.log(count);
} else if (command === 'best') {
  const [outPath, ...steps] = args;
  const best = new Map();
  const byVariant = { simt: new Map(), default: new Map() };
  for (const path of steps) {
    let times;
    try {
      times = shapeTimes(path);
    } catch (e) {
      console.error(`skipped ${path}: ${e.message}`);
      continue;
    }
    for (const s of times) {
      if (s.variant in byVariant && !byVariant[s.variant].has(s.key)) byVariant[s.variant].set(s.key, s.ms);
      if (!best.has(s.key) || s.ms < best.get(s.key).ms) best.set(s.key, s);
    }
  }
  const named = [...best].filter(([k, s]) => k.includes(':f16:') && s.variant !== 'default');
  writeFileSync(outPath, JSON.stringify(Object.fromEntries(named.map(([k, s]) => [k, s.variant])), null, 1));
  const ops = ['conv2d', 'conv2dInputGrad', 'conv2dWeightGrad'];
  const sum = (map, op) => [...map].filter(([k]) => k.startsWith(`${op}:`)).reduce((a, [, v]) => a + (typeof v === 'number' ? v : v.ms), 0);
  console.log(`${'GPU ms per step'.padEnd(18)}${'SIMT'.padStart(8)}${'default'.padStart(9)}${'tuned'.padStart(8)}`);
  for (const op of ops) console.log(`${op.padEnd(18)}${sum(byVariant.simt, op).toFixed(1).padStart(8)}${sum(byVariant.default, op).toFixed(1).padStart(9)}${sum(best, op).toFixed(1).padStart(8)}`);
  const slow = [...best.values()].sort((a, b) => b.ms - a.ms).slice(0, 12);
  console.log('\nslowest shapes after tuning (ms, variant, SIMT ms, default ms):');
  for (const s of slow) console.log(`  ${s.key.padEnd(52)}${s.ms.toFixed(2).padStart(7)}  ${s.variant.padEnd(14)}${(byVariant.simt.get(s.key) ?? NaN).toFixed(2).padStart(7)}${(byVariant.default.get(s.key) ?? NaN).toFixed(2).padStart(7)}`);
} else {
  console.error('usage: step-tables.mjs candidates STEP.json DIR | best OUT.json STEP.json...');
  process.exit(2);
}
