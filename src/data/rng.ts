/**
 * Seeded PRNG (sfc32: 128-bit state, passes PractRand to 2^40+, a few ns per draw) with a
 * saveable state, and stateless derivation of independent streams from integer keys.
 *
 * The data pipeline never shares one stream between samples: each sample's randomness comes
 * from `Rng.derive(seed, epoch, index, stream)`, so results do not depend on which worker
 * (or how many workers) produced a sample.
 */

export interface RngState {
  readonly s: [number, number, number, number];
}

/** splitmix32-style finaliser (murmur3 fmix32 constants). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Folds integer keys (each a safe integer, negatives allowed) into 4 well-mixed words. */
function seedWords(keys: readonly number[]): [number, number, number, number] {
  let h = 0x9e3779b9;
  for (const key of keys) {
    if (!Number.isSafeInteger(key)) throw new RangeError(`Rng keys must be safe integers, got ${key}`);
    const lo = key >>> 0;
    const hi = Math.floor(key / 0x100000000) >>> 0;
    h = mix32(h ^ lo) + 0x7f4a7c15;
    h = mix32(h ^ hi) + 0x6a09e667;
  }
  const out: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    h = (h + 0x9e3779b9) >>> 0;
    out[i] = mix32(h);
  }
  return out;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  /** A generator seeded from one or more integer keys. */
  constructor(...keys: number[]) {
    [this.a, this.b, this.c, this.d] = seedWords(keys.length > 0 ? keys : [0]);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** An independent stream for the given keys, e.g. (seed, epoch, sampleIndex, streamId). */
  static derive(...keys: number[]): Rng {
    return new Rng(...keys);
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return { s: [this.a, this.b, this.c, this.d] };
  }

  setState(state: RngState): void {
    [this.a, this.b, this.c, this.d] = state.s.map((v) => v >>> 0) as [number, number, number, number];
    this.spareNormal = null;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits of precision. */
  random(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi) (Python's random.uniform up to the closed end). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Uniform integer in [lo, hi) (Python's random.randrange(lo, hi)). */
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new RangeError(`empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.random() * (hi - lo));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.random() < p;
  }

  /** One element of a non-empty array, uniformly. */
  choice<T>(items: readonly T[]): T {
    return items[this.int(0, items.length)];
  }

  /** Standard normal (Box-Muller, pairs cached). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang. */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.random() || Number.MIN_VALUE, 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.random();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as a ratio of gammas. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }
}
