import type { Category } from '../gpu/arena.js';
import { Tensor } from '../gpu/tensor.js';
import { copyInto } from './copy.js';

/**
 * Nearest-neighbour upsampling of an NHWC view by an integer factor, written straight
 * into `out` when given (e.g. a channel slice of the neck's concat buffer). No kernel of
 * its own: the input is viewed as [N,H,1,W,1,C] broadcast to [N,H,f,W,f,C], the output
 * as the same 6-D view of [N,fH,fW,C], and the strided copy moves the values.
 */
export function upsampleNearest(x: Tensor, factor: number, options: { out?: Tensor; category?: Category } = {}): Tensor {
  if (x.rank !== 4 || !Number.isInteger(factor) || factor < 1) throw new Error(`upsampleNearest: NHWC input and an integer factor needed, got [${x.shape}] x${factor}`);
  const [n, h, w, c] = x.shape;
  const shape = [n, h * factor, w * factor, c];
  const out = options.out ?? Tensor.empty(x.engine, shape, x.dtype, options.category ?? 'activations');
  if (out.shape.join() !== shape.join()) throw new Error(`upsampleNearest: out has shape [${out.shape}], expected [${shape}]`);
  const [sN, sH, sW, sC] = x.strides;
  const src = x.view([n, h, factor, w, factor, c], [sN, sH, 0, sW, 0, sC], x.offset);
  const [oN, oH, oW, oC] = out.strides;
  const dst = out.view([n, h, factor, w, factor, c], [oN, oH * factor, oH, oW * factor, oW, oC], out.offset);
  copyInto(src, dst);
  src.dispose();
  dst.dispose();
  return out;
}
