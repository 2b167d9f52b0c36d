/** Parsing and checking of command-line option values shared by the commands; bad values are UserErrors naming the option. */
import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';

export function positiveInt(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${option} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A threshold in [0, 1]. */
export function fraction(value: string, option: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new UserError(`${option} must be a number between 0 and 1, got ${JSON.stringify(value)}`);
  return n;
}

/** An image size rounded up to a multiple of the model's stride, as the reference's check_imgsz (with a warning). */
export function strideMultiple(size: number, stride: number, option: string, warn: (line: string) => void): number {
  const rounded = Math.ceil(size / stride) * stride;
  if (rounded !== size) warn(`warning: ${option} ${size} must be a multiple of the stride ${stride}, using ${rounded}`);
  return rounded;
}

/** The activation precision for `--half`: f16 where the adapter has shader-f16, else f32 with a warning. */
export function precision(engine: Engine, half: boolean | undefined, warn: (line: string) => void): 'f32' | 'f16' {
  if (!half) return 'f32';
  if (engine.features.shaderF16) return 'f16';
  warn('warning: --half needs the shader-f16 feature, which this adapter lacks; running in f32');
  return 'f32';
}
