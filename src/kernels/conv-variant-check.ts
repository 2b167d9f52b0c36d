import { UserError } from '../errors.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import type { ConvOp, ConvVariantTable } from './conv-variants.js';
import { checkConvVariant } from './conv2d.js';
import { checkWeightGradVariant } from './conv2d-backward.js';

/** Throws the error `op` would give for `variant` on this engine with `dtype` operands. */
export function checkConvOpVariant(engine: Engine, op: ConvOp, dtype: DType, variant: string): void {
  if (op === 'conv2dWeightGrad') checkWeightGradVariant(engine, dtype, variant);
  else checkConvVariant(engine, dtype, variant); // the input gradient runs the forward kernels
}

/**
 * Checks every entry of a variant table against the engine's device before a run: a tile the
 * device cannot run (workgroup memory, invocations, no tensor cores) is reported with the
 * table and the key, not halfway through a training step.
 */
export function checkConvVariantTable(engine: Engine, table: ConvVariantTable, source: string): void {
  for (const [key, variant] of Object.entries(table)) {
    const [op, dtype] = key.split(':') as [ConvOp, DType];
    try {
      checkConvOpVariant(engine, op, dtype, variant);
    } catch (e) {
      throw new UserError(`${source}: "${key}" -> "${variant}": ${(e as Error).message}`);
    }
  }
}
