import type { DType } from '../gpu/dtype.js';
import { weightGradCommonWgsl } from './conv2d-backward.wgsl.js';
import { chunkCoords, chunksPerThread, range, type TileShape } from './matmul-common.wgsl.js';
import {
  SUBGROUP_ID_PARAM,
  SUBGROUP_MATRIX_HEADER,
  subgroupBlock,
  subgroupGemmDecls,
  subgroupGemmLoop,
  subgroupOperand,
  subgroupScratchEpilogue,
  subgroupTilesKey,
  type StageAxes,
  type SubgroupGemm,
  type SubgroupTiles,
} from './matmul-subgroup.wgsl.js';

/**
 * The conv weight gradient on tensor cores: per group, dW (Cout/groups x KH*KW*Cg) = dy^T
 * im2col(x), reducing over one split of the output pixels (grid z), f32 partial sums per
 * split as in the SIMT kernel. A(m, p) = dy[p, m] is read along m (channels) and B(p, n)
 * = x under pixel p along n (channels of one tap), so A is staged m-contiguous (loaded as
 * column-major fragments) and B n-contiguous; both gathers are the SIMT kernel's
 * (`dyVec`, `xVec` of `weightGradCommonWgsl`), converted to f16 (exact: the tensors are f16).
 */
export interface WeightGradSubgroupKernel {
  tiles: SubgroupTiles;
  /** vec4 reads (the SIMT kernel's condition). */
  vec: boolean;
}

export const WGRAD_STAGE_AXES: StageAxes = { a: 'm', b: 'n' };

export function weightGradSubgroupKey(k: WeightGradSubgroupKernel): string {
  return `conv2d-wgrad-sgmat:${subgroupTilesKey(k.tiles)}:${k.vec ? 'v' : 's'}`;
}

/** Statements loading chunk registers of `shape` from `read(p, c)` (a vec4<f32> expression) for pixels from kBase on. */
function gather(shape: TileShape, limit: string, read: (p: string, c: string) => string): string {
  return range(chunksPerThread(shape))
    .map((i) => {
      const { o, c } = chunkCoords(shape, i);
      const r = `${shape.reg}${i}`;
      return `{ let p = pBegin + kBase + ${o}; let c = ${c}; ${r} = vec4<f16>(); if (p < pEnd && c < ${limit}) { ${r} = vec4<f16>(${read('p', 'c')}); } }`;
    })
    .join('\n    ');
}

export function weightGradSubgroupWgsl(k: WeightGradSubgroupKernel, dy: DType, x: DType): string {
  const t = k.tiles;
  const { bm, bn, threads } = subgroupBlock(t);
  const gemm: SubgroupGemm = {
    tiles: t,
    a: subgroupOperand(t, 'a', { axis: 'm', vec: k.vec }),
    b: subgroupOperand(t, 'b', { axis: 'n', vec: k.vec }),
  };
  const loads = (kBase: string) => `{ let kBase = ${kBase};
    ${gather(gemm.a, 'P.M - m0', (p, c) => `dyVec(${p}, grp, m0 + ${c})`)}
    ${gather(gemm.b, 'P.N - n0', (p, c) => `xVec(${p}, grp, n0 + ${c})`)} }`;
  const element = `if (m < P.M && n < P.N) { partial[(split * P.Cout + grp * P.M + m) * P.N + n] = acc; }`;
  return /* wgsl */ `${SUBGROUP_MATRIX_HEADER}
${weightGradCommonWgsl(k.vec, dy, x)}
${subgroupGemmDecls(gemm)}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32${SUBGROUP_ID_PARAM}) {
  let m0 = (wg.x / P.tilesN) * ${bm}u;
  let n0 = (wg.x % P.tilesN) * ${bn}u;
  let grp = wg.y;
  let split = wg.z;
  let pBegin = split * P.splitLen;
  let pEnd = min(pBegin + P.splitLen, P.pixels);
  ${subgroupGemmLoop(gemm, loads, `(pEnd - pBegin + ${t.bk - 1}u) / ${t.bk}u`)}
  ${subgroupScratchEpilogue(gemm, element)}
}`;
}
