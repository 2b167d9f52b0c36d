/**
 * The HSV augmentation's colour arithmetic (cv2's 8-bit RGB <-> HSV, integer), shared by the GPU
 * kernel that applies it while expanding a batch (`image-input.ts`) and the CPU version
 * (`data/augment/hsv.ts`, `applyHsvLuts`), which must agree bit for bit. The WGSL reads the
 * image's LUTs from a `luts: array<u32>` binding: per image hue, sat, val, 256 bytes each.
 */

/** Fixed-point bits of cv2's RGB -> HSV division tables. */
export const HSV_SHIFT = 12;
/** 255·30: HSV -> RGB divides v·(7650 - s·k) by it (s in [0, 255], k = hue mod 30). */
export const HSV_DEN = 7650;
/**
 * cv2's sector_data: the (r, g, b) outputs of hue sector H / 30, as indices into
 * [v, t(30), t(k), t(30 - k)] with t(q) = round(v·(7650 - s·q) / 7650).
 */
export const HSV_SECTORS: readonly (readonly [number, number, number])[] = [
  [0, 3, 1],
  [2, 0, 1],
  [1, 0, 3],
  [1, 2, 0],
  [3, 1, 0],
  [0, 1, 2],
];
/**
 * cv2's division tables as integer formulas (round half up of a / b is (2a + b) / (2b)):
 * sdiv(v) = round((255 << 12) / v), hdiv(d) = round((180 << 12) / (6d)); 0 for 0.
 */
export function hsvSdiv(v: number): number {
  return v === 0 ? 0 : Math.floor((2 * (255 << HSV_SHIFT) + v) / (2 * v));
}
export function hsvHdiv(d: number): number {
  return d === 0 ? 0 : Math.floor((2 * (180 << HSV_SHIFT) + 6 * d) / (12 * d));
}
/** HSV -> RGB's t(q) = round(v·(7650 - s·q) / 7650), half up: exact for these small integers. */
export function hsvRgbT(v: number, s: number, q: number): number {
  return Math.floor((2 * v * (HSV_DEN - s * q) + HSV_DEN) / (2 * HSV_DEN));
}

/** Bytes of one image's LUTs in a batch's `hsv` array: hue, sat, val, 256 each. */
export const HSV_LUT_BYTES = 3 * 256;
/**
 * Marks an image of a batch whose pixels get no HSV (every gain 0, or already applied): its
 * hue LUT's last entry, which a real LUT never holds (hues are < 180) nor reads.
 */
export const HSV_SKIP = 255;

/** WGSL of the HSV augmentation of one pixel (`applyHsvLuts`, bit for bit): RGB in, RGB out, 0..255. */
export function hsvWgsl(): string {
  const half = 1 << (HSV_SHIFT - 1);
  const sectors = HSV_SECTORS.map((o, i) => `    case ${i}u: { return vec3<i32>(tab[${o[0]}], tab[${o[1]}], tab[${o[2]}]); }`).join('\n');
  return /* wgsl */ `
fn lut(image: u32, which: u32, x: u32) -> i32 {
  let j = image * ${HSV_LUT_BYTES}u + which * 256u + x;
  return i32((luts[j / 4u] >> (8u * (j % 4u))) & 0xffu);
}
fn sdiv(v: i32) -> i32 { return select(0, (${2 * (255 << HSV_SHIFT)} + v) / (2 * max(v, 1)), v > 0); }
fn hdiv(d: i32) -> i32 { return select(0, (${2 * (180 << HSV_SHIFT)} + 6 * d) / (12 * max(d, 1)), d > 0); }
fn rgbT(v: i32, s: i32, q: i32) -> i32 { return (2 * v * (${HSV_DEN} - s * q) + ${HSV_DEN}) / ${2 * HSV_DEN}; }
fn hsv(rgb: vec3<i32>, image: u32) -> vec3<i32> {
  let r = rgb.x;
  let g = rgb.y;
  let b = rgb.z;
  let v = max(r, max(g, b));
  let diff = v - min(r, min(g, b));
  let s = (diff * sdiv(v) + ${half}) >> ${HSV_SHIFT}u;
  var h: i32;
  if (v == r) { h = g - b; } else if (v == g) { h = b - r + 2 * diff; } else { h = r - g + 4 * diff; }
  h = (h * hdiv(diff) + ${half}) >> ${HSV_SHIFT}u;
  if (h < 0) { h += 180; }
  let H = lut(image, 0u, u32(h));
  let S = lut(image, 1u, u32(s));
  let V = lut(image, 2u, u32(v));
  if (S == 0) { return vec3<i32>(V, V, V); }
  let sector = u32(H / 30);
  let k = H - 30 * (H / 30);
  let tab = array<i32, 4>(V, rgbT(V, S, 30), rgbT(V, S, k), rgbT(V, S, 30 - k));
  switch sector {
${sectors}
    default: { return vec3<i32>(V, V, V); }
  }
}`;
}
