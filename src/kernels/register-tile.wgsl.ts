import { range } from './matmul-common.wgsl.js';

/**
 * The register-blocked SIMT micro-kernel shared by the conv kernels (forward and weight
 * gradient): a workgroup of (bm/tm) x (bn/tn) threads computes a bm x bn tile from operand
 * tiles staged k-major in workgroup memory (`As`: rows of `ra` vec4s along m, `Bs`: rows of
 * `rb` vec4s along n). Thread (tx, ty) owns tm x tn outputs made of 4 x 4 sub-blocks: rows
 * 4 (ty + gy g) + i and columns 4 (tx + gx h) + e, so every workgroup-memory read is a vec4
 * and feeds 4 vec4 FMAs.
 */
export interface RegisterTile {
  bm: number;
  bn: number;
  tm: 4 | 8;
  tn: 4 | 8;
  /** vec4s per staged k row of A and of B (tile width / 4, plus any padding). */
  ra: number;
  rb: number;
}

export const registerTileThreads = (t: Pick<RegisterTile, 'bm' | 'bn' | 'tm' | 'tn'>) => (t.bm / t.tm) * (t.bn / t.tn);

const acc = (g: number, i: number, h: number) => `c${g}${i}_${h}`;

/** Thread coordinates tx, ty: a warp covers an 8 x 4 patch when the grid allows it (fewer distinct workgroup-memory reads). */
export function registerTileGrid(t: RegisterTile): string {
  const gx = t.bn / t.tn;
  const gy = t.bm / t.tm;
  return gx % 8 === 0 && gy % 4 === 0 && registerTileThreads(t) % 32 === 0
    ? `let warp = t / 32u; let lane = t % 32u; let tx = (warp % ${gx / 8}u) * 8u + lane % 8u; let ty = (warp / ${gx / 8}u) * 4u + lane / 8u;`
    : `let tx = t % ${gx}u; let ty = t / ${gx}u;`;
}

/** Declarations of the f32 vec4 accumulators. */
export function registerTileAccumulators(t: RegisterTile): string {
  return range(t.tm / 4)
    .flatMap((g) => range(4).flatMap((i) => range(t.tn / 4).map((h) => `var ${acc(g, i, h)} = vec4<f32>();`)))
    .join(' ');
}

/** One k step: accumulate row `kk` of the stages starting at aS (in As) and bS (in Bs). */
export function registerTileStep(t: RegisterTile, kk: string): string {
  const gx = t.bn / t.tn;
  const gy = t.bm / t.tm;
  const a = range(t.tm / 4).map((g) => `let a${g} = As[aS + ${kk} * ${t.ra}u + ${gy * g}u + ty];`);
  const b = range(t.tn / 4).map((h) => `let b${h} = Bs[bS + ${kk} * ${t.rb}u + ${gx * h}u + tx];`);
  const f = range(t.tm / 4).flatMap((g) =>
    range(4).flatMap((i) => range(t.tn / 4).map((h) => `${acc(g, i, h)} = fma(vec4<f32>(a${g}.${'xyzw'[i]}), b${h}, ${acc(g, i, h)});`)),
  );
  return `{ ${a.join(' ')} ${b.join(' ')}\n      ${f.join(' ')} }`;
}

/**
 * The thread's outputs, for the epilogue: `row(g, i)` is the tile-relative row expression of
 * row block g, row i, `col(h)` the column of the first of four in column block h, and
 * `acc(g, i, h)` names the vec4 accumulator.
 */
export function registerTileOutputs(t: RegisterTile) {
  const gx = t.bn / t.tn;
  const gy = t.bm / t.tm;
  return {
    rows: range(t.tm / 4).flatMap((g) => range(4).map((i) => ({ g, i, row: `${4 * gy * g + i}u + ty * 4u` }))),
    cols: range(t.tn / 4).map((h) => ({ h, col: `${4 * gx * h}u + tx * 4u` })),
    acc,
  };
}
