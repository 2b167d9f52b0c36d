// Tensor-core tile candidates for one convolution shape, shared by the per-layer sweep (conv-tc.mjs) and the
// in-step tuning (step-tables.mjs). Variant strings as conv2d's `variant` option reads them (sg:ROWSxCOLS:FMxFN:BK).

/**
 * Tensor-core tiles for a conv GEMM with `across` 16-wide fragments of columns, reducing over `channels` per tap:
 * 8 subgroups (four lost on every layer of the first sweep, bench/RESULTS.md) in 1, 2 or 4 columns, 2 or 4 fragment
 * rows each; depth 16 as well where it makes the gather tap-aligned.
 */
export function tcCandidates(across, channels) {
  const depths = channels % 32 && channels % 16 === 0 ? [32, 16] : [32];
  return depths.flatMap((bk) => tcTiles(across, bk));
}

function tcTiles(across, bk) {
  const cols = [[1, Math.min(across, 6)], [2, Math.min(Math.ceil(across / 2), 4)], [4, Math.min(Math.ceil(across / 4), 2)]];
  const out = [];
  for (const [sgCols, fragsN] of cols) {
    const wide = sgCols * fragsN;
    if (Math.ceil(across / wide) * wide > 1.34 * across) continue; // over a quarter of the columns past Cout
    for (const fragsM of [2, 4]) out.push(`sg:${8 / sgCols}x${sgCols}:${fragsM}x${fragsN}:${bk}`);
  }
  return out;
}

/** Weight-gradient tiles: rows cover Cout (1 or 2 subgroup rows), 2 or 4 subgroup columns of 2 or 4 fragments. */
export function wgradCandidates(cout) {
  const across = Math.ceil(cout / 16);
  const rows = [[1, Math.min(across, 4)], [2, Math.min(Math.ceil(across / 2), 4)]];
  const out = new Set();
  for (const [sgRows, fragsM] of rows) for (const sgCols of [2, 4]) for (const fragsN of [2, 4]) if (sgRows * sgCols <= 8) out.add(`sg:${sgRows}x${sgCols}:${fragsM}x${fragsN}:32`);
  return [...out];
}

const KEY = /^(conv2d|conv2dInputGrad|conv2dWeightGrad):(f16|f32):(\d+)x(\d+)x(\d+)x(\d+)>(\d+):k(\d+)x(\d+):s\d+x\d+:p\d+x\d+:g(\d+)$/;

/**
 * The candidates for one shape key of kernels/conv-variants.ts: the forward GEMM spans Cout and reduces over Cin per
 * tap, the input gradient's spans Cin and reduces over Cout; grouped convolutions have none (SIMT or depthwise only).
 */
export function candidatesForKey(key) {
  const m = KEY.exec(key);
  if (!m) throw new Error(`not a convolution shape key: ${key}`);
  const [op, , , , , cin, cout, , , groups] = m.slice(1).map((v, i) => (i < 2 ? v : Number(v)));
  if (groups !== 1) return [];
  if (op === 'conv2d') return tcCandidates(Math.ceil(cout / 16), cin);
  if (op === 'conv2dInputGrad') return tcCandidates(Math.ceil(cin / 16), cout);
  return wgradCandidates(cout);
}
