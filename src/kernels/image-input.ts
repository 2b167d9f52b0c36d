import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../gpu/tensor.js';
import { HSV_LUT_BYTES, HSV_SKIP, hsvWgsl } from './hsv.wgsl.js';
import { enables, grid1d, launch, linearIndexWgsl, Params } from './launch.js';

const WG = 256;

/**
 * Uploads a batch of 8-bit images (NHWC RGB bytes, as the data loader hands them over) and
 * expands it on the GPU to a float tensor scaled to [0, 1]: the bytes cross the bus packed
 * four to a u32 word, a quarter of the f32 size.
 *
 * `hsv` (an augmented batch's `hsv`: per image the hue, sat and val LUTs, [B, 3, 256]): the
 * kernel applies the HSV augmentation to each pixel first, as `applyHsvLuts` does on the CPU
 * (bit for bit: cv2's integer RGB -> HSV, the LUTs, integer HSV -> RGB); images marked
 * HSV_SKIP are left as they are.
 */
export function imagesToTensor(
  engine: Engine,
  bytes: Uint8Array,
  shape: readonly number[],
  dtype: DType = 'f32',
  category: Category = 'input',
  hsv?: Uint8Array | null,
): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count) throw new Error(`imagesToTensor: ${bytes.length} bytes for a batch of shape [${shape}] (${count} expected)`);
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`imagesToTensor: dtype must be f32 or f16, got ${dtype}`);
  if (hsv && (shape.length !== 4 || shape[3] !== 3)) throw new Error(`imagesToTensor: HSV needs NHWC RGB images, got shape [${shape}]`);
  if (hsv && hsv.length !== shape[0] * HSV_LUT_BYTES) throw new Error(`imagesToTensor: ${hsv.length} bytes of HSV LUTs for ${shape[0]} images (${shape[0] * HSV_LUT_BYTES} expected)`);
  // Whole words in place when the bytes allow it (a 640 batch of 16 is 20 MB: no host copy).
  const aligned = bytes.byteOffset % 4 === 0 && count % 4 === 0;
  const words = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, count / 4) : new Uint32Array(Math.ceil(count / 4));
  if (!aligned) new Uint8Array(words.buffer).set(bytes);
  const packed = Tensor.fromHost(engine, words, [words.length], 'u32', 'workspace');
  const out = Tensor.empty(engine, shape, dtype, category);
  const lutWords = hsv ? new Uint32Array(hsv.length / 4) : null;
  if (hsv && lutWords) new Uint8Array(lutWords.buffer).set(hsv);
  const luts = lutWords ? Tensor.fromHost(engine, lutWords, [lutWords.length], 'u32', 'workspace') : null;
  // One thread per byte, or with HSV one per pixel (its 3 bytes may straddle words).
  const per = luts ? 3 : 1;
  const threads = count / per;
  const build = () => /* wgsl */ `${enables(dtype)}
struct Params { n: u32, pixelsPerImage: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<${dtype}>;
@group(0) @binding(2) var<storage, read_write> src: array<u32>;
${luts ? '@group(0) @binding(3) var<storage, read_write> luts: array<u32>;' : ''}
${linearIndexWgsl(WG)}
fn byteAt(i: u32) -> u32 { return (src[i / 4u] >> (8u * (i % 4u))) & 0xffu; }
fn put(i: u32, byte: u32) { dst[i] = ${dtype}(f32(byte) / 255.0); }
${luts ? hsvWgsl() : ''}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = linearIndex(gid, groups);
  if (t >= P.n) { return; }
${
  luts
    ? `  let i = 3u * t;
  let image = t / P.pixelsPerImage;
  var rgb = vec3<u32>(byteAt(i), byteAt(i + 1u), byteAt(i + 2u));
  if (lut(image, 0u, 255u) != ${HSV_SKIP}) { rgb = vec3<u32>(hsv(vec3<i32>(rgb), image)); }
  put(i, rgb.x);
  put(i + 1u, rgb.y);
  put(i + 2u, rgb.z);`
    : '  put(t, byteAt(t));'
}
}`;
  if (count > 0) {
    const pixelsPerImage = luts ? shape[1] * shape[2] : 0;
    const key = `images-to-tensor:${dtype}${luts ? ':hsv' : ''}`;
    launch(engine, { key, name: luts ? 'images to tensor (HSV)' : 'images to tensor', build }, luts ? [out, packed, luts] : [out, packed], new Params().u32(threads, pixelsPerImage), grid1d(engine, threads, WG));
  }
  packed.dispose();
  luts?.dispose();
  return out;
}
