import type { SubgroupMatrixConfig } from '../../src/gpu/device.js';
import type { Engine } from '../../src/gpu/engine.js';
import { keep } from '../../src/gpu/scope.js';
import { Tensor } from '../../src/gpu/tensor.js';

/**
 * Lets a subgroup-matrix kernel run on a device without subgroup matrices (lavapipe), to
 * test everything around the matrix ops: tiling, staging, offsets, majorness, strides,
 * edges, epilogue. Semantics follow the proposal (gpuweb proposals/subgroup-matrix.md):
 * element [r, c] of a row-major load/store lives at offset + r * stride + c, of a
 * column-major one at offset + c * stride + r; left is M x K, right K x N, result M x N.
 *
 * Rewrite: every matrix value becomes a u32 handle to a slot of a storage-buffer pool
 * (one slot per source site, subgroup and workgroup), and only the first invocation of
 * each emulated subgroup (a run of `sgSize` consecutive invocations) touches the slots.
 * Matrices in private arrays would be closer to the real thing but take lavapipe's LLVM
 * minutes to compile.
 */
export interface Emulated {
  source: string;
  /** f32 elements the pool needs per workgroup. */
  poolPerWorkgroup: number;
}

export function emulateSubgroupMatrix(source: string, sgSize: number, poolBinding: number): Emulated {
  let src = source
    .replace('enable chromium_experimental_subgroup_matrix;', '')
    .replace(/diagnostic\(off, chromium\.subgroup_matrix_uniformity\);/, '');
  const dims = { left: [0, 0], right: [0, 0], result: [0, 0] } as Record<string, [number, number]>; // [rows, cols]
  for (const m of src.matchAll(/subgroup_matrix_(left|right|result)<\w+, (\d+), (\d+)>/g)) dims[m[1]] = [Number(m[3]), Number(m[2])];
  const [fm, fk] = dims.left;
  const fn = dims.right[1];
  const elems = Math.max(fm * fk, fk * fn, fm * fn);
  const arrayType = (name: string) => {
    const m = new RegExp(`var(?:<[^>]*>)? ${name}: array<(\\w+)`).exec(src);
    if (!m) throw new Error(`emulation: no array ${name}`);
    return m[1];
  };
  let sites = 0;
  const helpers = new Map<string, string>();
  const at = 'select(off + i * stride + j, off + j * stride + i, colMajor)';
  // Loop bounds read through smZ (0 at run time) so the compiler cannot unroll them.
  src = src.replace(/subgroupMatrixLoad<subgroup_matrix_(\w+)<[^>]*>>\(&(\w+), /g, (_all, kind: string, arr: string) => {
    const [rows, cols] = dims[kind];
    const name = `smLoad_${kind}_${arr}`;
    helpers.set(name, `fn ${name}(site: u32, off: u32, colMajor: bool, stride: u32) -> u32 {
  if (smLeader) {
    let slot = (smBase + site) * ${elems}u;
    for (var e = smZ; e < ${rows * cols}u; e++) { let i = e / ${cols}u; let j = e % ${cols}u; smPool[slot + e] = f32(${arr}[${at}]); }
  }
  return site;
}`);
    return `${name}(${sites++}u, `;
  });
  src = src.replace(/subgroupMatrixStore\(&(\w+), /g, (_all, arr: string) => {
    const name = `smStore_${arr}`;
    helpers.set(name, `fn ${name}(off: u32, m: u32, colMajor: bool, stride: u32) {
  if (smLeader) {
    let slot = (smBase + m) * ${elems}u;
    for (var e = smZ; e < ${fm * fn}u; e++) { let i = e / ${fn}u; let j = e % ${fn}u; ${arr}[${at}] = ${arrayType(arr)}(smPool[slot + e]); }
  }
}`);
    return `${name}(`;
  });
  src = src.replace(/subgroup_matrix_result<[^>]*>\(\)/g, () => `smZero(${sites++}u)`);
  src = src.replaceAll('subgroupMatrixMultiplyAccumulate(', 'smMma(');
  src = src.replace(/subgroup_matrix_\w+<[^>]*>/g, 'u32');
  helpers.set('smMma', `fn smZero(site: u32) -> u32 {
  if (smLeader) { for (var i = smZ; i < ${fm * fn}u; i++) { smPool[(smBase + site) * ${elems}u + i] = 0.0; } }
  return site;
}
fn smMma(a: u32, b: u32, c: u32) -> u32 {
  if (smLeader) {
    let sa = (smBase + a) * ${elems}u; let sb = (smBase + b) * ${elems}u; let sc = (smBase + c) * ${elems}u;
    for (var e = smZ; e < ${fm * fn * fk}u; e++) {
      let i = e / ${fn * fk}u; let j = (e / ${fk}u) % ${fn}u; let k = e % ${fk}u;
      smPool[sc + i * ${fn}u + j] += smPool[sa + i * ${fk}u + k] * smPool[sb + k * ${fn}u + j];
    }
  }
  return c;
}`);
  const threads = Number(/@workgroup_size\((\d+)\)/.exec(src)![1]);
  const nSub = threads / sgSize;
  src = src.replace(
    /,\s*@builtin\(subgroup_id\) (\w+): u32\) \{/,
    (_all, name: string) => `) {
  let ${name} = t / ${sgSize}u;
  smLeader = t % ${sgSize}u == 0u;
  smZ = P.tilesN >> 31u;
  smBase = ((wg.x + wg.y * nwg.x + wg.z * nwg.x * nwg.y) * ${nSub}u + ${name}) * ${sites}u;`,
  );
  const decls = `@group(0) @binding(${poolBinding}) var<storage, read_write> smPool: array<f32>;
var<private> smLeader: bool;
var<private> smZ: u32;
var<private> smBase: u32;
${[...helpers.values()].join('\n')}`;
  // Helpers go after the module-scope declarations they use (the first function, or the entry point's attributes, starts there).
  const first = Math.min(...['\nfn ', '\n@compute'].map((head) => src.indexOf(head)).filter((at) => at >= 0));
  return { source: `${src.slice(0, first)}\n${decls}\n${src.slice(first)}`, poolPerWorkgroup: nSub * sites * elems };
}

/**
 * A view of `engine` that reports f16 -> f32 subgroup matrices of the given shape, a
 * fixed subgroup size and any other limits given, and runs subgroup-matrix kernels through `emulateSubgroupMatrix`
 * with an extra pool binding (`ran` lists their keys in launch order). Tensors must be
 * created on the returned engine; call `release()` before checking for leaks.
 */
export function withEmulatedSubgroupMatrix(
  engine: Engine,
  config: Pick<SubgroupMatrixConfig, 'M' | 'N' | 'K'>,
  sgSize = 32,
  limits: Partial<GPUSupportedLimits> = {},
): { engine: Engine; release: () => void; ran: string[] } {
  const features = {
    ...engine.features,
    subgroupMatrix: true,
    subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', ...config }],
  };
  const gpu = Object.create(engine.gpu!, { limits: { value: { ...engine.gpu!.limits, subgroupMinSize: sgSize, subgroupMaxSize: sgSize, ...limits } } });
  let pool: Tensor | null = null;
  const sources = new Map<string, Emulated>();
  const ran: string[] = [];
  const run: Engine['run'] = (request, slices, params, groups) => {
    if (!request.key.includes('-sgmat:')) return engine.run(request, slices, params, groups);
    ran.push(request.key);
    let emulated = sources.get(request.key);
    if (!emulated) sources.set(request.key, (emulated = emulateSubgroupMatrix(request.build(), sgSize, request.bindings + 1)));
    const need = emulated.poolPerWorkgroup * groups[0] * groups[1] * groups[2];
    if (!pool || pool.size < need) {
      pool?.dispose();
      pool = keep(Tensor.empty(engine, [need], 'f32', 'workspace')); // outlives the caller's tidy scopes
    }
    const slice = pool.storage.slice();
    engine.run(
      { ...request, key: `emulated:${request.key}`, bindings: request.bindings + 1, build: () => emulated.source },
      () => [...slices(), slice],
      params,
      groups,
    );
  };
  const proxy = new Proxy(engine, {
    get(target, prop) {
      if (prop === 'features') return features;
      if (prop === 'gpu') return gpu;
      if (prop === 'run') return run;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { engine: proxy, release: () => pool?.dispose(), ran };
}
