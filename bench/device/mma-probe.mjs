// Where the tensor-core GEMM loop spends its time (issue 4): the k step of the convolutions' 8x1:2x4 tile
// (eight subgroups, each 2 x 4 fragments of 16x16x16, so 8 multiply-adds per 16-deep step) taken apart into
// kernels that add one ingredient each, all on the same 1056 workgroups x ITER steps:
//   regs        fragments loaded once, the loop only multiplies (the ceiling of subgroup matrices here)
//   wg-load     + every step loads its 2 A and 4 B fragments from workgroup memory (B column-major)
//   wg-load-row + the same with B row-major
//   wg-stage    + every step each thread stores 16 halves to workgroup memory between two barriers
//   wg-a-sto-b  A from workgroup memory, B straight from a storage buffer (column-major rows of 64 halves, L1 resident)
//   sto-load    both straight from a storage buffer (A rows of 64 halves, B column-major, L1/L2 resident)
//   gl-stage-1  wg-stage with the A tile read from a storage buffer each step (4 vec4<f16> per thread, rows of 512
//               halves cycled, L2 resident as a conv's input is), loads for step k+1 issued before step k multiplies
//   gl-stage-2  the same with the loads two steps ahead (two register sets)
// Prints TFLOP/s per kernel.  node bench/device/mma-probe.mjs [--iters 512]
import { Engine } from '../../dist/src/gpu/engine.js';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { Params } from '../../dist/src/kernels/launch.js';
import { medianMs } from '../../dist/src/kernels/bench/timing.js';

const FRAGS_M = 2;
const FRAGS_N = 4;
const ROW = 24; // staged row: 16 halves + 8 padding, as the conv kernels stage depth 16
const A_ROWS = 8 * FRAGS_M * 16;
const B_ROWS = FRAGS_N * 16;
const KST = 64; // storage operands: row length in halves (A: pixels x 64 channels; B: Cout x 64)

const range = (n) => Array.from({ length: n }, (_, i) => i);
const L = 'subgroup_matrix_left<f16, 16, 16>';
const R = 'subgroup_matrix_right<f16, 16, 16>';
const C = 'subgroup_matrix_result<f32, 16, 16>';
const acc = (i, j) => `c${i}_${j}`;
const macs = range(FRAGS_M)
  .flatMap((i) => range(FRAGS_N).map((j) => `${acc(i, j)} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, ${acc(i, j)});`))
  .join(' ');

/** Fragment loads of one step: A row-major, B column-major (or row-major) from `arr`, at k offset `k` (WGSL). */
function loads(kind, k) {
  const storageB = range(FRAGS_N).map((j) => `let b${j} = subgroupMatrixLoad<${R}>(&S, ${j * 16 * KST}u + ${k}, true, ${KST}u);`);
  if (kind === 'storage') {
    const a = range(FRAGS_M).map((i) => `let a${i} = subgroupMatrixLoad<${L}>(&S, (rowA + ${i * 16}u) * ${KST}u + ${k}, false, ${KST}u);`);
    return [...a, ...storageB].join(' ');
  }
  const a = range(FRAGS_M).map((i) => `let a${i} = subgroupMatrixLoad<${L}>(&As, (sg * ${FRAGS_M * 16}u + ${i * 16}u) * ${ROW}u + ${k}, false, ${ROW}u);`);
  if (kind === 'hybrid') return [...a, ...storageB].join(' ');
  const b = range(FRAGS_N).map((j) =>
    kind === 'row'
      ? `let b${j} = subgroupMatrixLoad<${R}>(&Bs, ${k} * ${B_ROWS + 8}u + ${j * 16}u, false, ${B_ROWS + 8}u);`
      : `let b${j} = subgroupMatrixLoad<${R}>(&Bs, ${j * 16 * ROW}u + ${k}, true, ${ROW}u);`,
  );
  return [...a, ...b].join(' ');
}

/** Vec4 chunks of the A tile (A_ROWS x 16 halves) each of the 256 threads moves per step. */
const CHUNKS = (A_ROWS * 16) / 4 / 256;
/** Row length of the global A matrix in vec4s (512 halves) and its size for `groups` workgroups. */
const G_ROW = 128;
export const globalHalves = (groups) => groups * A_ROWS * G_ROW * 4;

/**
 * The loop of the conv kernels with a plain A read: registers -> workgroup memory, barrier, the
 * loads of a later step, fragment loads and multiply-adds, barrier; loads `ahead` steps ahead.
 */
function globalStaged(ahead) {
  const sets = range(ahead).map((a) => `g${a}_`);
  const load = (set, step) =>
    range(CHUNKS)
      .map((i) => `${set}${i} = S[(wg.x * ${A_ROWS}u + (${i * 256}u + t) / 4u) * ${G_ROW}u + ((${step}) % 32u) * 4u + (${i * 256}u + t) % 4u];`)
      .join(' ');
  const store = range(CHUNKS)
    .map((i) => `{ let at = ((${i * 256}u + t) / 4u) * ${ROW}u + ((${i * 256}u + t) % 4u) * 4u; let v = ${sets[0]}${i}; As[at] = v.x; As[at + 1u] = v.y; As[at + 2u] = v.z; As[at + 3u] = v.w; }`)
    .join('\n    ');
  const shift = range(ahead - 1)
    .flatMap((a) => range(CHUNKS).map((i) => `${sets[a]}${i} = ${sets[a + 1]}${i};`))
    .join(' ');
  return `${sets.flatMap((set) => range(CHUNKS).map((i) => `var ${set}${i} = vec4<f16>();`)).join(' ')}
  ${sets.map((set, a) => load(set, `${a}u`)).join('\n  ')}
  for (var it = 0u; it < P.iters; it++) {
    ${store}
    workgroupBarrier();
    ${shift} ${load(sets[ahead - 1], `it + ${ahead}u`)}
    ${loads('col', '0u')} ${macs}
    workgroupBarrier();
  }`;
}

/** The probe kernels: name -> WGSL (binding 1: storage S, f16 or vec4<f16>; binding 2: f32 output O). */
export function probeKernels() {
  const header = (sType) => `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct Params { iters: u32, tilesN: u32 } // tilesN: 0, read by the test emulation
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> S: array<${sType}>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
var<workgroup> As: array<f16, ${A_ROWS * ROW}>;
var<workgroup> Bs: array<f16, ${Math.max(B_ROWS * ROW, 16 * (B_ROWS + 8))}>;`;
  const kernel = (body, sType = 'f16') => `${header(sType)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(subgroup_id) sg: u32) {
  for (var i = t; i < ${A_ROWS * ROW}u; i += 256u) { As[i] = f16(f32(i % 7u) * 0.01); }
  for (var i = t; i < ${B_ROWS * ROW}u; i += 256u) { Bs[i] = f16(f32(i % 5u) * 0.01); }
  workgroupBarrier();
  let rowA = (wg.x * 8u + sg) * ${FRAGS_M * 16}u;
  ${range(FRAGS_M).flatMap((i) => range(FRAGS_N).map((j) => `var ${acc(i, j)} = ${C}();`)).join(' ')}
  ${body}
  let out = (wg.x * 8u + sg) * ${FRAGS_M * FRAGS_N * 256}u;
  ${range(FRAGS_M).flatMap((i) => range(FRAGS_N).map((j) => `subgroupMatrixStore(&O, out + ${(i * FRAGS_N + j) * 256}u, ${acc(i, j)}, false, 16u);`)).join('\n  ')}
}`;
  // Alternating k offsets 0 / 8 keep the loads inside the loop.
  const k = '(it & 1u) * 8u';
  return {
    regs: kernel(`${loads('col', '0u')}
  for (var it = 0u; it < P.iters; it++) { ${macs} }`),
    'wg-load': kernel(`for (var it = 0u; it < P.iters; it++) { ${loads('col', k)} ${macs} }`),
    'wg-load-row': kernel(`for (var it = 0u; it < P.iters; it++) { ${loads('row', k)} ${macs} }`),
    'wg-stage': kernel(`for (var it = 0u; it < P.iters; it++) {
    { let base = ((it * 7u + t) % ${A_ROWS}u) * ${ROW}u; let h = f16(f32(it % 3u));
      ${range(16).map((j) => `As[base + ${j}u] = h;`).join(' ')} }
    workgroupBarrier();
    ${loads('col', k)} ${macs}
    workgroupBarrier();
  }`),
    'wg-a-sto-b': kernel(`for (var it = 0u; it < P.iters; it++) { ${loads('hybrid', k)} ${macs} }`),
    'sto-load': kernel(`for (var it = 0u; it < P.iters; it++) { ${loads('storage', `(it % 4u) * 16u`)} ${macs} }`),
    'gl-stage-1': kernel(globalStaged(1), 'vec4<f16>'),
    'gl-stage-2': kernel(globalStaged(2), 'vec4<f16>'),
  };
}

async function main() {
  const args = process.argv.slice(2);
  const iters = args.includes('--iters') ? Number(args[args.indexOf('--iters') + 1]) : 512;
  const engine = await Engine.open();
  if (!engine.features.subgroupMatrix) {
    console.log('no subgroup matrices on this device');
    return;
  }
  const groups = 1056;
  const S = Tensor.empty(engine, [Math.max(groups * A_ROWS * KST + B_ROWS * KST, globalHalves(groups))], 'f16', 'other');
  const O = Tensor.empty(engine, [groups * 8 * FRAGS_M * FRAGS_N * 256], 'f32', 'other');
  const flop = groups * 8 * iters * FRAGS_M * FRAGS_N * 2 * 16 ** 3;
  const rows = [];
  for (const [name, wgsl] of Object.entries(probeKernels())) {
    const run = () =>
      engine.run({ key: `probe:${name}`, name: `probe ${name}`, bindings: 2, build: () => wgsl }, () => [S.storage.slice(), O.storage.slice()], new Params().u32(iters, 0).build(), [groups, 1, 1]);
    try {
      const ms = await medianMs(engine, run, 5);
      rows.push([name, ms, flop / ms / 1e9]);
    } catch (e) {
      rows.push([name, NaN, NaN]);
      console.log(`${name}: ${e.message.split('\n')[0]}`);
    }
  }
  console.log(`\nprobe (${groups} workgroups x 8 subgroups x ${iters} steps of ${FRAGS_M}x${FRAGS_N} 16x16x16)`);
  for (const [name, ms, tf] of rows) console.log(`${name.padEnd(14)}${ms.toFixed(3).padStart(9)} ms${tf.toFixed(1).padStart(9)} TFLOP/s`);
  engine.destroy();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
