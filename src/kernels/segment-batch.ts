import type { Category } from '../gpu/arena.js';
import type { BufferSlice } from '../gpu/pipelines.js';
import { keep } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { grid1d, Params } from './launch.js';
import type { Engine } from '../gpu/engine.js';

/**
 * Multi-tensor kernels: one dispatch walks many tensors (every weight's gradient, every
 * optimizer update, every EMA average) instead of one dispatch each, which costs the host
 * ~20 µs to record. A batch binds the arena segments its tensors lie in, each once and
 * whole (one buffer may not back two writable bindings), as u32 words (values are bitcast),
 * and walks a table of element offsets that lives in one of those segments or its own.
 *
 * Rows are the units of work: per row one tensor per role (e.g. parameter, gradient,
 * momentum), all of one size; rows whose tensors lie in the same segments form one batch.
 * `shared` tensors (the optimizer's control, a partial-sums buffer) are bound for every row.
 * Each row is cut into chunks of `chunk` elements, one workgroup each.
 *
 * Table: per row [offset of each role..., size, first workgroup in the batch, first chunk
 * over all batches, extra...], then the row of each workgroup.
 */
export interface BatchRow {
  tensors: readonly Tensor[];
  /** Per-row words the kernel reads (e.g. its parameter group). */
  extra?: readonly number[];
}

export interface SegmentBatch {
  /** Pipeline key part: which binding each role and shared tensor uses. */
  key: string;
  bindings: number;
  /** WGSL: the Params fields this batch needs (put first), the bindings and the row accessors. */
  paramsWgsl: string;
  wgsl: string;
  slices: () => BufferSlice[];
  /** The Params words of `paramsWgsl`, in order. */
  params: (p: Params) => Params;
  groups: [number, number, number];
  table: Tensor;
}

const elementOffset = (t: Tensor) => t.storage.allocation.offset / 4 + t.offset;

/**
 * The batches of `rows` (tensors of 4-byte elements, contiguous), in row order within each
 * batch and with chunks numbered over all rows in the given order. `workgroupSize` threads
 * share a workgroup. Dispose each batch's table when its dispatch is recorded (`workspace`),
 * or keep it for tensors that stay allocated (`tableCategory` of their owner).
 */
export function segmentBatches(
  rows: readonly BatchRow[],
  shared: readonly Tensor[],
  chunk: number,
  workgroupSize: number,
  tableCategory: Category = 'workspace',
): SegmentBatch[] {
  if (rows.length === 0) return [];
  const engine = rows[0].tensors[0].engine;
  const roles = rows[0].tensors.length;
  const extras = rows[0].extra?.length ?? 0;
  const stride = roles + 3 + extras;
  const byKey = new Map<string, number[]>();
  let firstChunk = 0;
  const firstChunks = rows.map((r, i) => {
    if (r.tensors.length !== roles || (r.extra?.length ?? 0) !== extras) throw new Error(`segmentBatches: row ${i} differs in shape from row 0`);
    const size = r.tensors[0].size;
    for (const t of r.tensors) {
      if (t.size !== size || !t.isContiguous() || (t.dtype !== 'f32' && t.dtype !== 'u32' && t.dtype !== 'i32')) {
        throw new Error(`segmentBatches: row ${i} needs contiguous 4-byte tensors of one size`);
      }
    }
    const key = r.tensors.map((t) => t.storage.allocation.segment).join(':');
    const same = byKey.get(key);
    if (same) same.push(i);
    else byKey.set(key, [i]);
    const first = firstChunk;
    firstChunk += Math.max(1, Math.ceil(size / chunk));
    return first;
  });
  return [...byKey.values()].map((indices) => {
    const entries: number[] = [];
    const owner: number[] = [];
    indices.forEach((i, p) => {
      const r = rows[i];
      entries.push(...r.tensors.map(elementOffset), r.tensors[0].size, owner.length, firstChunks[i], ...(r.extra ?? []));
      for (let c = 0; c < Math.max(1, Math.ceil(r.tensors[0].size / chunk)); c++) owner.push(p);
    });
    const table = keep(Tensor.fromHost(engine, Uint32Array.from([...entries, ...owner]), [entries.length + owner.length], 'u32', tableCategory));
    const members = [table, ...rows[indices[0]].tensors, ...shared];
    const segments = members.map((t) => t.storage.allocation.segment);
    const distinct = [...new Set(segments)];
    const binding = segments.map((s) => distinct.indexOf(s) + 1);
    const name = (k: number) => `S${binding[k]}`;
    const sharedFields = shared.map((_, k) => `shared${k}At: u32`).join(', ');
    return {
      key: binding.join(''),
      bindings: distinct.length,
      paramsWgsl: `tableAt: u32, rows: u32, workgroups: u32${sharedFields ? `, ${sharedFields}` : ''}`,
      wgsl: /* wgsl */ `
${distinct.map((_, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> S${b + 1}: array<u32>;`).join('\n')}
const ROW_STRIDE: u32 = ${stride}u;
fn entry(k: u32) -> u32 { return ${name(0)}[P.tableAt + k]; }
// The row this workgroup works on (or ROW_NONE past the last), its chunk within the row.
const ROW_NONE: u32 = 0xffffffffu;
fn rowOf(w: u32) -> u32 { return select(ROW_NONE, entry(P.rows * ROW_STRIDE + w), w < P.workgroups); }
fn rowSize(row: u32) -> u32 { return entry(row * ROW_STRIDE + ${roles}u); }
fn chunkOf(row: u32, w: u32) -> u32 { return w - entry(row * ROW_STRIDE + ${roles + 1}u); }
fn globalChunk(row: u32, w: u32) -> u32 { return chunkOf(row, w) + entry(row * ROW_STRIDE + ${roles + 2}u); }
fn rowExtra(row: u32, k: u32) -> u32 { return entry(row * ROW_STRIDE + ${roles + 3}u + k); }
${rows[0].tensors
  .map(
    (_, k) => `fn load${k}(row: u32, i: u32) -> f32 { return bitcast<f32>(${name(k + 1)}[entry(row * ROW_STRIDE + ${k}u) + i]); }
fn store${k}(row: u32, i: u32, v: f32) { ${name(k + 1)}[entry(row * ROW_STRIDE + ${k}u) + i] = bitcast<u32>(v); }`,
  )
  .join('\n')}
${shared
  .map(
    (_, k) => `fn loadShared${k}(i: u32) -> f32 { return bitcast<f32>(${name(1 + roles + k)}[P.shared${k}At + i]); }
fn storeShared${k}(i: u32, v: f32) { ${name(1 + roles + k)}[P.shared${k}At + i] = bitcast<u32>(v); }`,
  )
  .join('\n')}`,
      slices: () => {
        const slices = members.map((t) => engine.segmentSlice(t.storage.allocation));
        return distinct.map((_, b) => slices[binding.indexOf(b + 1)]);
      },
      params: (p: Params) => p.u32(elementOffset(table), indices.length, owner.length, ...shared.map(elementOffset)),
      groups: grid1d(engine, owner.length * workgroupSize, workgroupSize),
      table,
    };
  });
}

/**
 * Records batch `b`'s dispatch of a kernel: `fields` are its own Params fields (after the
 * batch's), `code` its WGSL after the batch's bindings and accessors (helpers and `main`),
 * `params` appends the words of `fields`.
 */
export function recordBatch(
  engine: Engine,
  b: SegmentBatch,
  kernel: { key: string; name: string; fields?: string; code: () => string },
  params: (p: Params) => Params = (p) => p,
): void {
  engine.run(
    {
      key: `${kernel.key}:${b.key}`,
      name: kernel.name,
      bindings: b.bindings,
      build: () => /* wgsl */ `
struct Params { ${b.paramsWgsl}${kernel.fields ? `, ${kernel.fields}` : ''} }
@group(0) @binding(0) var<uniform> P: Params;
${b.wgsl}
${kernel.code()}`,
    },
    b.slices,
    params(b.params(new Params())).build(),
    b.groups,
  );
}

/**
 * WGSL `main` of an elementwise batch kernel with chunks of 4·`workgroupSize` elements:
 * `rowSetup` runs once per workgroup with `row` known (it may return), `body` for each
 * element index `i` of the row below `size`.
 */
export function rowwiseMainWgsl(workgroupSize: number, body: string, rowSetup = ''): string {
  return /* wgsl */ `
@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  let row = rowOf(w);
  if (row == ROW_NONE) { return; }
${rowSetup}
  let size = rowSize(row);
  let start = chunkOf(row, w) * ${4 * workgroupSize}u;
  for (var j = 0u; j < 4u; j++) {
    let i = start + j * ${workgroupSize}u + t;
    if (i < size) {
${body}
    }
  }
}`;
}
