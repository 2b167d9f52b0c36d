import {
  arrayOf,
  bindingDecls,
  bindingsKey,
  CONV_PARAMS_WGSL,
  CONV_TILE_WGSL,
  convGatherLoads,
  convGatherSetup,
  epilogueKey,
  epilogueLoads,
  epilogueVec,
  OUT_PIXEL_WGSL,
  storeVec,
  type ConvBinding,
  type ConvEpilogue,
  type ConvGemmKernel,
  type ConvOperandGather,
} from './conv2d.wgsl.js';
import { chunksPerThread } from './matmul-common.wgsl.js';
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
 * Implicit-GEMM conv2d on tensor cores (subgroup matrices, f16 operands, f32 accumulation;
 * an f32 weight is rounded to f16 as its tiles load):
 * the conv's GEMM (pixels x output channels, reduction over kh, kw, ci) with the im2col
 * gather of the SIMT kernel (`convGatherLoads`) feeding the staged fragment loop of the
 * tensor-core matmul (`subgroupGemmLoop`). Both operand tiles are read along k: A rows are
 * pixels, B rows output channels (the weight's own layout), so both are staged k-contiguous
 * and B is loaded as column-major fragments. The epilogue (bias, folded BatchNorm, SiLU)
 * runs per element from the fragment scratch, consecutive threads on consecutive channels
 * of a pixel, and stores through the output view's strides (any view, f16 or f32).
 * Runs for f16 convolutions whose channels make it pay, or where a variant names it (conv2d's
 * chooseGemm). In the yolov8n f16 batch-64 training step on an H100 it ran the forward and
 * input gradients 1.1-2.5x faster than the SIMT kernel on all but the narrowest layers
 * (bench/RESULTS.md, ninth to eleventh calls).
 */
export interface ConvSubgroupKernel {
  tiles: SubgroupTiles;
  bindings: ConvBinding[];
  a: ConvGemmKernel['a'];
  epilogue: ConvEpilogue;
}

/** Both operands are staged with k contiguous. */
export const CONV_STAGE_AXES: StageAxes = { a: 'k', b: 'k' };

export function convSubgroupKey(k: ConvSubgroupKernel): string {
  return `conv2d-sgmat:${subgroupTilesKey(k.tiles)}:${k.a}:${bindingsKey(k.bindings)}:${epilogueKey(k.epilogue)}`;
}

export function convSubgroupWgsl(k: ConvSubgroupKernel): string {
  const t = k.tiles;
  const { bm, bn, threads } = subgroupBlock(t);
  const X = arrayOf(k.bindings, 'x');
  const Wt = arrayOf(k.bindings, 'w');
  const Y = arrayOf(k.bindings, 'y');
  const gemm: SubgroupGemm = {
    tiles: t,
    a: subgroupOperand(t, 'a', { axis: 'k', vec: X.binding.vec }),
    b: subgroupOperand(t, 'b', { axis: 'k', vec: Wt.binding.vec }),
  };
  const aChunks = chunksPerThread(gemm.a);
  const bChunks = chunksPerThread(gemm.b);
  const gather: ConvOperandGather = { kernel: k, threads, bk: t.bk, aChunks, bChunks, aTotal: aChunks * threads, bTotal: bChunks * threads, reg: 'f16' };
  const element = `if (m < P.M && n < P.N) {
        let co = slice * P.N + n; let row = outPixel(m);
        ${epilogueLoads(k.epilogue, k.bindings, '', 'co', '(slice + 1u) * P.N')}
        var v = acc; ${epilogueVec(k.epilogue, '')}
        ${storeVec(Y, 'row', 'co', 'n', 'P.N')}
      }`;
  return /* wgsl */ `${SUBGROUP_MATRIX_HEADER}
${CONV_PARAMS_WGSL}
${bindingDecls(k.bindings)}
${subgroupGemmDecls(gemm)}
${OUT_PIXEL_WGSL}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32${SUBGROUP_ID_PARAM}) {
  ${CONV_TILE_WGSL(bm, bn)}
  ${convGatherSetup(gather)}
  ${subgroupGemmLoop(gemm, (kBase, set) => convGatherLoads(gather, kBase, set))}
  ${subgroupScratchEpilogue(gemm, element)}
}`;
}
