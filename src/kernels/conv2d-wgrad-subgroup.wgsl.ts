import type { DType } from '../gpu/dtype.js';
import { WEIGHT_GRAD_TILE_WGSL, weightGradGatherLoads, weightGradGatherSetup, weightGradParamsWgsl, type WeightGradGather } from './conv2d-backward.wgsl.js';
import {
  SUBGROUP_ID_PARAM,
  SUBGROUP_MATRIX_HEADER,
  subgroupBlock,
  subgroupDirectEpilogue,
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
 * (`weightGradGatherLoads`), into f16 registers (exact: the tensors are f16). Interior
 * tiles store their f32 fragments straight into the partial sums.
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

export function weightGradSubgroupWgsl(k: WeightGradSubgroupKernel, dy: DType, x: DType): string {
  const t = k.tiles;
  const { bm, bn, threads } = subgroupBlock(t);
  const gemm: SubgroupGemm = {
    tiles: t,
    a: subgroupOperand(t, 'a', { axis: 'm', vec: k.vec }),
    b: subgroupOperand(t, 'b', { axis: 'n', vec: k.vec }),
  };
  const gather: WeightGradGather = { a: gemm.a, b: gemm.b, vec: k.vec };
  const row = (m: string) => `(split * P.Cout + grp * P.M + ${m}) * P.N`;
  const element = `if (m < P.M) { for (var e = 0u; e < 4u; e++) { if (n + e < P.N) { partial[${row('m')} + n + e] = acc[e]; } } }`;
  return /* wgsl */ `${SUBGROUP_MATRIX_HEADER}
${weightGradParamsWgsl(k.vec, dy, x)}
${subgroupGemmDecls(gemm)}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32${SUBGROUP_ID_PARAM}) {
  ${WEIGHT_GRAD_TILE_WGSL(bm, bn)}
  ${weightGradGatherSetup(gather)}
  ${subgroupGemmLoop(gemm, (kBase, set) => weightGradGatherLoads(gather, kBase, set), `(pEnd - pBegin + ${t.bk - 1}u) / ${t.bk}u`)}
  ${subgroupDirectEpilogue(gemm, 'partial', row, 'P.N', 'P.M', 'P.N', subgroupScratchEpilogue(gemm, element))}
}`;
}
