import type { DType } from '../gpu/dtype.js';
import { enables } from './launch.js';
import {
  bindingType,
  chunkCoords,
  chunksPerThread,
  MATMUL_PARAMS_WGSL,
  range,
  stagedKLoop,
  TILE_ORDER_WGSL,
  tileLoads,
  tileRegisters,
  type OperandPlan,
  type TileLoad,
} from './matmul-common.wgsl.js';

/**
 * Register-blocked SIMT matmul (f32 math, f32 or f16 storage). 256 threads in a 16 x 16
 * grid each own a (bm/16) x (bn/16) block of C made of 4 x 4 sub-blocks spaced 64 apart,
 * so every workgroup-memory read is a vec4 (A stored k-major, B n-major) and each thread
 * issues 16 vec4 FMAs per 4 vec4 loads at 128 x 128. A warp is an 8 x 4 patch of the
 * thread grid, which halves the distinct workgroup-memory bytes it reads per k step
 * compared with 16 x 2. Tiles of depth bk are staged through registers into workgroup
 * memory, double-buffered (one barrier per k step) when `buffers` is 2. Rows of the
 * staging arrays carry one vec4 of padding so transposing stores do not hit one bank.
 * All k-step loops are unrolled when the source is generated: accumulators stay in
 * registers and every index is a constant offset.
 */
export interface SimtTiles {
  bm: 64 | 128;
  bn: 64 | 128;
  bk: 8 | 16;
  buffers: 1 | 2;
}

export interface SimtKernel {
  tiles: SimtTiles;
  a: OperandPlan;
  b: OperandPlan;
  /** vec4 stores of C (unit stride along n, aligned rows, N a multiple of 4). */
  cVec: boolean;
  aType: DType;
  bType: DType;
  cType: DType;
  biasType: DType | null;
  beta: boolean;
  /** A and B are views of one storage: one binding serves both. */
  sameAB: boolean;
}

export const SIMT_THREADS = 256;

/** Workgroup bytes the kernel needs. */
export function simtWorkgroupBytes(t: SimtTiles): number {
  return 16 * t.buffers * t.bk * (t.bm / 4 + 1 + t.bn / 4 + 1);
}

export function simtKey(k: SimtKernel): string {
  const t = k.tiles;
  const plan = (p: OperandPlan) => `${p.axis}${p.vec ? 'v' : 's'}`;
  return [
    `matmul-simt:${t.bm}x${t.bn}x${t.bk}/${t.buffers}`,
    `${k.aType}${plan(k.a)}.${k.bType}${plan(k.b)}${k.sameAB ? '=' : ''}.${k.cType}${k.cVec ? 'v' : 's'}`,
    `${k.biasType ? `bias${k.biasType}` : ''}${k.beta ? 'beta' : ''}`,
  ].join(':');
}

export function simtWgsl(k: SimtKernel): string {
  const { bm, bn, bk, buffers } = k.tiles;
  const ra = bm / 4 + 1; // vec4s per staged row of A (k-major) and B (k-major rows of n)
  const rb = bn / 4 + 1;
  const aStage = bk * ra;
  const bStage = bk * rb;
  const gm = bm / 64; // 4-row groups per thread
  const gn = bn / 64;
  const bArray = k.sameAB ? 'A' : 'B';

  const aLoad: TileLoad = {
    array: 'A', plan: k.a, threads: SIMT_THREADS, regType: 'f32', reg: 'ra',
    base: 'aBase', contigStride: k.a.axis === 'k' ? 'P.sAk' : 'P.sAm', otherStride: k.a.axis === 'k' ? 'P.sAm' : 'P.sAk',
    ...(k.a.axis === 'k'
      ? { contig: bk, other: bm, contigStart: 'kBase', otherStart: 'm0', contigLimit: 'P.K', otherLimit: 'P.M' }
      : { contig: bm, other: bk, contigStart: 'm0', otherStart: 'kBase', contigLimit: 'P.M', otherLimit: 'P.K' }),
  };
  const bLoad: TileLoad = {
    array: bArray, plan: k.b, threads: SIMT_THREADS, regType: 'f32', reg: 'rb',
    base: 'bBase', contigStride: k.b.axis === 'n' ? 'P.sBn' : 'P.sBk', otherStride: k.b.axis === 'n' ? 'P.sBk' : 'P.sBn',
    ...(k.b.axis === 'n'
      ? { contig: bn, other: bk, contigStart: 'n0', otherStart: 'kBase', contigLimit: 'P.N', otherLimit: 'P.K' }
      : { contig: bk, other: bn, contigStart: 'kBase', otherStart: 'n0', contigLimit: 'P.K', otherLimit: 'P.N' }),
  };

  // Registers -> workgroup memory (stage `s`); both arrays hold rows of k.
  const stageStores = (l: TileLoad, arr: string, row: number, stage: number, kMajor: boolean) =>
    range(chunksPerThread(l))
      .map((i) => {
        const { o, c } = chunkCoords(l, i);
        const r = `${l.reg}${i}`;
        if (kMajor) return `${arr}[s * ${stage}u + ${o} * ${row}u + ${c} / 4u] = ${r};`; // chunk runs along m (or n)
        // chunk runs along k: scatter its four values down a column
        return `{ let o = ${o}; let c = ${c}; let at = s * ${stage}u + o / 4u; let q = o % 4u;
      ${arr}[at + c * ${row}u][q] = ${r}.x; ${arr}[at + (c + 1u) * ${row}u][q] = ${r}.y; ${arr}[at + (c + 2u) * ${row}u][q] = ${r}.z; ${arr}[at + (c + 3u) * ${row}u][q] = ${r}.w; }`;
      })
      .join('\n      ');
  const stores = (stage: string) => `{ let s = ${stage};
      ${stageStores(aLoad, 'As', ra, aStage, k.a.axis === 'm')}
      ${stageStores(bLoad, 'Bs', rb, bStage, k.b.axis === 'n')} }`;
  const loads = (kBase: string) => `{ let kBase = ${kBase};
${tileLoads(aLoad)}
${tileLoads(bLoad)} }`;

  const acc = (g: number, i: number, h: number) => `c${g}${i}_${h}`;
  const lanes = ['x', 'y', 'z', 'w'];
  const step = (kk: number) => {
    const a = range(gm).map((g) => `let a${g} = As[aS + ${kk * ra + 16 * g}u + ty];`);
    const b = range(gn).map((h) => `let b${h} = Bs[bS + ${kk * rb + 16 * h}u + tx];`);
    const f = range(gm).flatMap((g) =>
      range(4).flatMap((i) => range(gn).map((h) => `${acc(g, i, h)} = fma(vec4<f32>(a${g}.${lanes[i]}), b${h}, ${acc(g, i, h)});`)),
    );
    return `{ ${a.join(' ')} ${b.join(' ')}\n      ${f.join(' ')} }`;
  };
  const compute = (stage: string) => `{ let aS = ${stage} * ${aStage}u; let bS = ${stage} * ${bStage}u;
      ${range(bk).map(step).join('\n      ')} }`;

  const mainLoop = stagedKLoop(buffers, bk, loads, stores, compute);

  const biasLoads = k.biasType
    ? range(gn)
        .map(
          (h) => `var bias${h} = vec4<f32>();
  for (var e = 0u; e < 4u; e++) { let n = n0 + ${64 * h}u + tx * 4u + e; if (n < P.N) { bias${h}[e] = f32(bias[P.biasOff + n * P.sBias]); } }`,
        )
        .join('\n  ')
    : '';
  const epilogue = range(gm)
    .flatMap((g) =>
      range(4).map((i) => {
        const cols = range(gn).map((h) => {
          const v = acc(g, i, h);
          const n = `n0 + ${64 * h}u + tx * 4u`;
          if (k.cVec) {
            return `{ let n = ${n}; if (n < P.N) { let at = (row + n) / 4u; var v = P.alpha * ${v};${k.beta ? ' v += P.beta * vec4<f32>(C[at]);' : ''}${k.biasType ? ` v += bias${h};` : ''} C[at] = vec4<${k.cType}>(v); } }`;
          }
          return `{ let n = ${n}; for (var e = 0u; e < 4u; e++) { if (n + e < P.N) { let at = row + (n + e) * P.sCn; var v = P.alpha * ${v}[e];${k.beta ? ' v += P.beta * f32(C[at]);' : ''}${k.biasType ? ` v += bias${h}[e];` : ''} C[at] = ${k.cType}(v); } } }`;
        });
        return `{ let m = m0 + ${64 * g + i}u + ty * 4u; if (m < P.M) { let row = cBase + m * P.sCm;\n    ${cols.join('\n    ')} } }`;
      }),
    )
    .join('\n  ');

  const bindings = [
    `var<storage, read_write> A: ${bindingType(k.aType, k.a.vec)};`,
    ...(k.sameAB ? [] : [`var<storage, read_write> B: ${bindingType(k.bType, k.b.vec)};`]),
    `var<storage, read_write> C: ${bindingType(k.cType, k.cVec)};`,
    ...(k.biasType ? [`var<storage, read_write> bias: array<${k.biasType}>;`] : []),
  ].map((decl, i) => `@group(0) @binding(${i + 1}) ${decl}`);

  return /* wgsl */ `${enables(k.aType, k.bType, k.cType, ...(k.biasType ? [k.biasType] : []))}
${MATMUL_PARAMS_WGSL}
${bindings.join('\n')}
var<workgroup> As: array<vec4<f32>, ${buffers * aStage}>;
var<workgroup> Bs: array<vec4<f32>, ${buffers * bStage}>;
${TILE_ORDER_WGSL}

@compute @workgroup_size(${SIMT_THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tile = tileOf(wg, nwg);
  if (tile.x >= P.tilesM) { return; }
  let m0 = tile.x * ${bm}u;
  let n0 = tile.y * ${bn}u;
  let batch = wg.z;
  let aBase = P.aOff + batch * P.sAb;
  let bBase = P.bOff + batch * P.sBb;
  let cBase = P.cOff + batch * P.sCb;
  // 16 x 16 thread grid; a warp (32 consecutive t) covers 8 columns x 4 rows of it.
  let warp = t / 32u;
  let lane = t % 32u;
  let tx = (warp % 2u) * 8u + lane % 8u;
  let ty = (warp / 2u) * 4u + lane / 8u;
  ${range(gm)
    .flatMap((g) => range(4).flatMap((i) => range(gn).map((h) => `var ${acc(g, i, h)} = vec4<f32>();`)))
    .join(' ')}
  ${tileRegisters(aLoad)} ${tileRegisters(bLoad)}
  let nk = (P.K + ${bk - 1}u) / ${bk}u;
  ${mainLoop}
  ${biasLoads}
  ${epilogue}
}`;
}
