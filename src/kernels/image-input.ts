import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, linearIndexWgsl, Params } from './launch.js';

const WG = 256;

/**
 * Uploads a batch of 8-bit images (NHWC RGB bytes, as the data loader hands them over) and
 * expands it on the GPU to a float tensor scaled to [0, 1]: the bytes cross the bus packed
 * four to a u32 word, a quarter of the f32 size.
 */
export function imagesToTensor(engine: Engine, bytes: Uint8Array, shape: readonly number[], dtype: DType = 'f32', category: Category = 'input'): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count) throw new Error(`imagesToTensor: ${bytes.length} bytes for a batch of shape [${shape}] (${count} expected)`);
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`imagesToTensor: dtype must be f32 or f16, got ${dtype}`);
  // Whole words in place when the bytes allow it (a 640 batch of 16 is 20 MB: no host copy).
  const aligned = bytes.byteOffset % 4 === 0 && count % 4 === 0;
  const words = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, count / 4) : new Uint32Array(Math.ceil(count / 4));
  if (!aligned) new Uint8Array(words.buffer).set(bytes);
  const packed = Tensor.fromHost(engine, words, [words.length], 'u32', 'workspace');
  const out = Tensor.empty(engine, shape, dtype, category);
  const build = () => /* wgsl */ `${enables(dtype)}
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<${dtype}>;
@group(0) @binding(2) var<storage, read_write> src: array<u32>;
${linearIndexWgsl(WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let byte = (src[i / 4u] >> (8u * (i % 4u))) & 0xffu;
  dst[i] = ${dtype}(f32(byte) / 255.0);
}`;
  if (count > 0) launch(engine, { key: `images-to-tensor:${dtype}`, name: 'images to tensor', build }, [out, packed], new Params().u32(count), grid1d(engine, count, WG));
  packed.dispose();
  return out;
}
