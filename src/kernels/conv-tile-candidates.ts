import type { ConvOp } from './conv-variants.js';

/**
 * Tensor-core tile candidates for one convolution shape (variant strings as conv2d's
 * `variant` option reads them, `sg:ROWSxCOLS:FMxFN:BK`), tried by the in-step tuning
 * (`tuneConvs`) and the per-layer sweep (bench/device/conv-tc.mjs). Eight subgroups (four lost
 * on every layer of the first sweep, bench/RESULTS.md).
 */

/**
 * Forward-style GEMMs with `across` 16-wide fragments of columns, reducing over `channels` per
 * tap: 1, 2 or 4 subgroup columns of 2 or 4 fragment rows each, column counts that waste at
 * most a quarter of the tile; depth 16 as well where it makes the gather tap-aligned; depth 32
 * also with one forced buffer (`/1`: where two do not fit, the plain variant falls back to
 * depth 16, and either may win: bench/RESULTS.md, fourteenth call); each also with the loads
 * two steps ahead (`@2`).
 */
export function convTileCandidates(across: number, channels: number): string[] {
  const depths = channels % 32 && channels % 16 === 0 ? [32, 16] : [32];
  return depths.flatMap((bk) => {
    const out: string[] = [];
    for (const [sgCols, fragsN] of [[1, Math.min(across, 6)], [2, Math.min(Math.ceil(across / 2), 4)], [4, Math.min(Math.ceil(across / 4), 2)]]) {
      const wide = sgCols * fragsN;
      if (Math.ceil(across / wide) * wide > 1.34 * across) continue;
      for (const fragsM of [2, 4]) {
        const variant = `sg:${8 / sgCols}x${sgCols}:${fragsM}x${fragsN}:${bk}`;
        out.push(...alsoTwoAhead([variant, ...(bk === 32 ? [`${variant}/1`] : [])]));
      }
    }
    return out;
  });
}

/** Each variant followed by the same with its loads two steps ahead (a time-limited tuning tries both early). */
const alsoTwoAhead = (variants: string[]): string[] => variants.flatMap((v) => [v, `${v}@2`]);

/**
 * Weight-gradient tiles: rows cover Cout (1 or 2 subgroup rows), 2 or 4 subgroup columns of 2 or
 * 4 fragments, one buffer (the default's staging, bench/RESULTS.md, nineteenth call) or two, loads
 * one or two steps ahead.
 */
export function weightGradTileCandidates(cout: number): string[] {
  const across = Math.ceil(cout / 16);
  const out = new Set<string>();
  for (const [sgRows, fragsM] of [[1, Math.min(across, 4)], [2, Math.min(Math.ceil(across / 2), 4)]]) {
    for (const sgCols of [2, 4]) for (const fragsN of [2, 4]) out.add(`sg:${sgRows}x${sgCols}:${fragsM}x${fragsN}:32`);
  }
  return alsoTwoAhead([...out].flatMap((v) => [`${v}/1`, v]));
}

/**
 * The default tiles with one or two buffers (at the deepest depth that fits) and loads one or two
 * steps ahead: first on every shape, so that a short tuning says which of these changes of the
 * defaults pay where (one of the four is the default itself: its second measurement).
 */
export const DEFAULT_TILE_CHANGES = ['sg/1@1', 'sg/1@2', 'sg/2@1', 'sg/2@2'];

/**
 * The candidates for one operation and shape: the changes of the default tiles, then explicit
 * tiles (the forward GEMM spans Cout and reduces over Cin per tap, the input gradient's spans
 * Cin and reduces over Cout); grouped convolutions have none.
 */
export function tileCandidates(op: ConvOp, cin: number, cout: number, groups: number): string[] {
  if (groups !== 1) return [];
  const explicit = op === 'conv2d' ? convTileCandidates(Math.ceil(cout / 16), cin) : op === 'conv2dInputGrad' ? convTileCandidates(Math.ceil(cin / 16), cout) : weightGradTileCandidates(cout);
  return [...DEFAULT_TILE_CHANGES, ...explicit];
}
