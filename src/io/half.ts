/**
 * Host conversions between f32 and IEEE half (f16) bits, and bfloat16 decoding.
 * Node 20 has no Float16Array, so half values travel as their 16-bit patterns (Uint16Array).
 *
 * f32 -> f16 rounds to nearest, ties to even; overflow goes to +-inf, tiny values to
 * (signed) subnormals or zero; NaN stays NaN (quiet, top mantissa bits kept).
 * f16 -> f32 and bf16 -> f32 are exact (every half and bfloat16 is an f32).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds one number (through f32) to the nearest f16 (ties to even), returning its bits. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  return f32BitsToF16Bits(u32[0]);
}

/** f32 bit pattern -> f16 bit pattern, round to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is an f16 subnormal (or zero): value = mant * 2^-24 with rounding.
    if (e < -10) return sign; // below half the smallest subnormal (2^-25): rounds to 0
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h; // h may carry into the exponent field: that is the right answer
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // carry may give inf: right too
  return sign | h;
}

let f16Table: Uint32Array | undefined;

/** f32 bit patterns of all 65536 halves, built once on first use (256 KiB). Bit-exact, NaN payloads kept. */
function halfTable(): Uint32Array {
  if (!f16Table) {
    const t = new Uint32Array(65536);
    for (let b = 0; b < 65536; b++) t[b] = f16BitsToF32Bits(b);
    f16Table = t;
  }
  return f16Table;
}

function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // subnormal: value = mant * 2^-24; normalize
  let e = 113; // biased f32 exponent of 2^-14
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** One f16 bit pattern to its value. */
export function f16ToF32(bits: number): number {
  u32[0] = halfTable()[bits & 0xffff];
  return f32[0];
}

export function f32ToF16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return new Float32Array(out.buffer);
}

/** bfloat16 bit patterns to f32 (exact: bf16 is the top half of an f32). */
export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

/** f32 to bfloat16 bits, round to nearest even; NaN stays NaN. */
export function f32ToBf16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i];
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) {
      out[i] = (x >>> 16) | 0x40; // quiet NaN, sign kept
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
