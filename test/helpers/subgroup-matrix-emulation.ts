import type { Engine } from '../../src/gpu/engine.js';
import type { SubgroupMatrixConfig } from '../../src/gpu/device.js';

/**
 * Lets a subgroup-matrix kernel run on a device without subgroup matrices (lavapipe), to
 * test everything around the matrix ops: tiling, staging, offsets, majorness, strides,
 * edges, epilogue. The source is rewritten so that the first invocation of each emulated
 * subgroup holds whole matrices (row-major f32 arrays) and performs each load,
 * multiply-accumulate and store itself,
 * with the semantics of the proposal (gpuweb proposals/subgroup-matrix.md): element
 * [r, c] of a row-major load lives at offset + r * stride + c, of a column-major one at
 * offset + c * stride + r; left is M x K, right K x N, result M x N. Subgroups become
 * runs of `sgSize` consecutive invocations (subgroup_id = index / sgSize).
 */
export function emulateSubgroupMatrix(source: string, sgSize: number): string {
  let src = source
    .replace('enable chromium_experimental_subgroup_matrix;', '')
    .replace(/diagnostic\(off, chromium\.subgroup_matrix_uniformity\);/, '');
  const types = new Map<string, { name: string; kind: string; cols: number; rows: number }>();
  const typeRe = /subgroup_matrix_(left|right|result)<\w+, (\d+), (\d+)>/g;
  for (const m of src.matchAll(typeRe)) {
    types.set(m[0], { name: `Sm_${m[1]}_${m[2]}x${m[3]}`, kind: m[1], cols: Number(m[2]), rows: Number(m[3]) });
  }
  const arrayType = (name: string) => {
    const m = new RegExp(`var(?:<[^>]*>)? ${name}: array<(\\w+)`).exec(src);
    if (!m) throw new Error(`emulation: no array ${name}`);
    return m[1];
  };
  const helpers: string[] = [...types.values()].map((t) => `struct ${t.name} { v: array<f32, ${t.rows * t.cols}> }`);
  // Only the first invocation of an emulated subgroup does the matrix work (the others would repeat it).
  helpers.push('var<private> smLeader: bool;');
  const made = new Set<string>();
  const element = 'select(off + i * stride + j, off + j * stride + i, colMajor)';
  src = src.replace(/subgroupMatrixLoad<(subgroup_matrix_\w+<[^>]*>)>\(&(\w+), /g, (_all, type: string, arr: string) => {
    const t = types.get(type)!;
    const fn = `smLoad_${t.name}_${arr}`;
    if (!made.has(fn)) {
      made.add(fn);
      helpers.push(`fn ${fn}(off: u32, colMajor: bool, stride: u32) -> ${t.name} {
  var r: ${t.name};
  if (!smLeader) { return r; }
  for (var i = 0u; i < ${t.rows}u; i++) { for (var j = 0u; j < ${t.cols}u; j++) { r.v[i * ${t.cols}u + j] = f32(${arr}[${element}]); } }
  return r;
}`);
    }
    return `${fn}(`;
  });
  const result = [...types.values()].find((t) => t.kind === 'result')!;
  src = src.replace(/subgroupMatrixStore\(&(\w+), /g, (_all, arr: string) => {
    const fn = `smStore_${arr}`;
    if (!made.has(fn)) {
      made.add(fn);
      helpers.push(`fn ${fn}(off: u32, m: ${result.name}, colMajor: bool, stride: u32) {
  if (!smLeader) { return; }
  for (var i = 0u; i < ${result.rows}u; i++) { for (var j = 0u; j < ${result.cols}u; j++) { ${arr}[${element}] = ${arrayType(arr)}(m.v[i * ${result.cols}u + j]); } }
}`);
    }
    return `${fn}(`;
  });
  const left = [...types.values()].find((t) => t.kind === 'left')!;
  const right = [...types.values()].find((t) => t.kind === 'right')!;
  helpers.push(`fn smMma(a: ${left.name}, b: ${right.name}, c: ${result.name}) -> ${result.name} {
  var r = c;
  if (!smLeader) { return r; }
  for (var i = 0u; i < ${result.rows}u; i++) { for (var j = 0u; j < ${result.cols}u; j++) {
    var s = r.v[i * ${result.cols}u + j];
    for (var k = 0u; k < ${left.cols}u; k++) { s += a.v[i * ${left.cols}u + k] * b.v[k * ${right.cols}u + j]; }
    r.v[i * ${result.cols}u + j] = s;
  } }
  return r;
}`);
  src = src.replaceAll('subgroupMatrixMultiplyAccumulate(', 'smMma(');
  for (const [type, t] of types) src = src.replaceAll(type, t.name);
  src = src.replace(/,\s*@builtin\(subgroup_id\) (\w+): u32\) \{/, (_all, name: string) => `) {\n  let ${name} = t / ${sgSize}u;\n  smLeader = t % ${sgSize}u == 0u;`);
  // Helpers go after the module-scope declarations they use (the first function starts there).
  const at = src.indexOf('\nfn ');
  return `${src.slice(0, at)}\n${helpers.join('\n')}\n${src.slice(at)}`;
}

/**
 * A view of `engine` that reports f16 -> f32 subgroup matrices of the given config and a
 * fixed subgroup size, and runs every kernel through `emulateSubgroupMatrix`. Tensors must
 * be created on the returned engine.
 */
export function withEmulatedSubgroupMatrix(engine: Engine, config: Omit<SubgroupMatrixConfig, 'componentType' | 'resultComponentType'>, sgSize = 32): Engine {
  const features = {
    ...engine.features,
    subgroupMatrix: true,
    subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', ...config }],
  };
  const gpu = Object.create(engine.gpu!, { limits: { value: { ...engine.gpu!.limits, subgroupMinSize: sgSize, subgroupMaxSize: sgSize } } });
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'features') return features;
      if (prop === 'gpu') return gpu;
      if (prop === 'run') {
        return (request: Parameters<Engine['run']>[0], ...rest: [never, never, never]) => {
          const emulated = request.key.startsWith('matmul-sgmat');
          target.run({ ...request, key: `${emulated ? 'emulated:' : ''}${request.key}`, build: () => (emulated ? emulateSubgroupMatrix(request.build(), sgSize) : request.build()) }, ...rest);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
