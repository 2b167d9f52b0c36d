import type { DType } from '../../gpu/dtype.js';
import { Tensor } from '../../gpu/tensor.js';

/**
 * One NHWC activation buffer of `sizes` channels in total, handed out as adjacent channel
 * windows: producers write into them (`out:`), and concat of their results is a view of
 * the buffer (no copy). The buffer lives as long as any window or view of it.
 */
export function channelSlices(like: Tensor, spatial: readonly [number, number], sizes: readonly number[], dtype: DType = like.dtype): Tensor[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const buffer = Tensor.empty(like.engine, [like.shape[0], spatial[0], spatial[1], total], dtype, 'activations');
  const windows = buffer.split(3, sizes);
  buffer.dispose();
  return windows;
}

/** Channel windows at the spatial size of `like` (an NHWC tensor). */
export function sameSizeSlices(like: Tensor, sizes: readonly number[]): Tensor[] {
  return channelSlices(like, [like.shape[1], like.shape[2]], sizes);
}
