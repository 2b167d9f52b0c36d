import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f16ToF32, f32ToBf16Bits, f32ToF16, f32ToF16Bits } from '../../src/io/half.js';

/** Independent decoding of a half, straight from the IEEE definition. */
function refHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

const all = new Uint16Array(65536).map((_, i) => i);

describe('f16 <-> f32', () => {
  it('decodes every half exactly, and f16 -> f32 -> f16 is the identity (NaN stays NaN)', () => {
    const f = f16BitsToF32(all);
    const back = f32ToF16Bits(f);
    for (let h = 0; h < 65536; h++) {
      const ref = refHalf(h);
      if (Number.isNaN(ref)) {
        const ok =
          Number.isNaN(f[h]) &&
          Number.isNaN(f16ToF32(h)) &&
          (back[h] & 0x7c00) === 0x7c00 &&
          (back[h] & 0x3ff) !== 0 &&
          (back[h] & 0x8000) === (h & 0x8000);
        if (!ok) throw new Error(`NaN 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
        continue;
      }
      if (f[h] !== ref || back[h] !== h || f16ToF32(h) !== ref || f32ToF16(ref) !== h) {
        throw new Error(`half 0x${h.toString(16)}: decoded ${f[h]} (ref ${ref}), back 0x${back[h].toString(16)}`);
      }
    }
    expect(Object.is(f[0x8000], -0)).toBe(true);
  });

  it('keeps NaN payloads bit-exact through f16 -> f32 and quiets them on the way back', () => {
    const bits = new Uint32Array(f16BitsToF32(new Uint16Array([0x7c01, 0xfe00, 0x7fff])).buffer);
    expect([...bits].map((b) => b.toString(16))).toEqual(['7f802000', 'ffc00000', '7fffe000']);
    expect([...f32ToF16Bits(new Float32Array(bits.buffer))].map((b) => b.toString(16))).toEqual(['7e01', 'fe00', '7fff']);
  });

  const cases: [string, number, number][] = [
    ['1', 1, 0x3c00],
    ['-2', -2, 0xc000],
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['tie 1+2^-11 -> even (down)', 1 + 2 ** -11, 0x3c00],
    ['tie 1+3*2^-11 -> even (up)', 1 + 3 * 2 ** -11, 0x3c02],
    ['just above the tie rounds up', 1 + 2 ** -11 + 2 ** -20, 0x3c01],
    ['just below the tie rounds down', 1 + 2 ** -11 - 2 ** -22, 0x3c00],
    ['max half', 65504, 0x7bff],
    ['below the overflow tie', 65519.99, 0x7bff],
    ['overflow tie 65520 -> inf', 65520, 0x7c00],
    ['overflow', 1e6, 0x7c00],
    ['negative overflow', -1e6, 0xfc00],
    ['inf', Infinity, 0x7c00],
    ['-inf', -Infinity, 0xfc00],
    ['smallest normal', 2 ** -14, 0x0400],
    ['smallest subnormal', 2 ** -24, 0x0001],
    ['largest subnormal', 1023 * 2 ** -24, 0x03ff],
    ['subnormal tie carries into the exponent', 1023.5 * 2 ** -24, 0x0400],
    ['half the smallest subnormal ties to 0', 2 ** -25, 0x0000],
    ['just above half the smallest subnormal', 2 ** -25 * (1 + 2 ** -20), 0x0001],
    ['subnormal tie 1.5 -> 2', 1.5 * 2 ** -24, 0x0002],
    ['subnormal tie 2.5 -> 2', 2.5 * 2 ** -24, 0x0002],
    ['negative subnormal', -(2 ** -24), 0x8001],
    ['underflow to -0', -1e-10, 0x8000],
    ['f32 subnormal to 0', 1e-40, 0x0000],
  ];
  for (const [what, x, bits] of cases) {
    it(`rounds ${what}`, () => {
      expect(f32ToF16(x)).toBe(bits);
      expect(f32ToF16Bits(new Float32Array([x]))[0]).toBe(bits);
    });
  }

  it('rounds random f32 values to the nearest half, ties to even', () => {
    // Reference: binary search over the (monotonic) positive halves.
    const pos = f16BitsToF32(all.subarray(0, 0x7c01)); // 0 .. inf
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const xs = new Float32Array(20000);
    for (let i = 0; i < xs.length; i++) xs[i] = (rnd() < 0.5 ? -1 : 1) * 2 ** (rnd() * 44 - 28) * (1 + rnd());
    const got = f32ToF16Bits(xs);
    for (let i = 0; i < xs.length; i++) {
      const a = Math.abs(xs[i]);
      let lo = 0;
      let hi = 0x7c00;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (pos[mid] <= a) lo = mid;
        else hi = mid;
      }
      // a in [pos[lo], pos[hi]); the overflow threshold is the midpoint 65520 (ties to inf)
      let want: number;
      if (a >= 65520) want = 0x7c00;
      else {
        const dl = a - pos[lo];
        const dh = pos[hi] - a;
        want = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
      }
      want |= xs[i] < 0 ? 0x8000 : 0;
      if (got[i] !== want) throw new Error(`${xs[i]}: got 0x${got[i].toString(16)}, want 0x${want.toString(16)}`);
    }
  });
});

describe('bf16', () => {
  it('decodes exactly', () => {
    const f = bf16BitsToF32(new Uint16Array([0x3f80, 0xc000, 0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x0001]));
    expect([...f.subarray(0, 6)]).toEqual([1, -2, 0, -0, Infinity, -Infinity]);
    expect(Number.isNaN(f[6])).toBe(true);
    expect(f[7]).toBe(2 ** -133); // smallest bf16 subnormal
  });

  it('round-trips every bf16 pattern and rounds ties to even', () => {
    const all16 = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToBf16Bits(bf16BitsToF32(all16));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (isNaN) expect((back[h] & 0x7f80) === 0x7f80 && (back[h] & 0x7f) !== 0).toBe(true);
      else if (back[h] !== h) throw new Error(`bf16 0x${h.toString(16)} came back 0x${back[h].toString(16)}`);
    }
    const t = f32ToBf16Bits(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 3.4e38]));
    expect([...t].map((x) => x.toString(16))).toEqual(['3f80', '3f82', '3f81', '7f80']);
  });
});
