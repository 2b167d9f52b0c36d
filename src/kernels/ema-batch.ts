import type { Engine } from '../gpu/engine.js';
import { keep } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { grid1d, Params } from './launch.js';

const WG = 256;
/** Elements a workgroup updates (4 per thread). */
const CHUNK = WG * 4;

/** Pairs whose averages and values lie in the same segments: one dispatch. */
interface SegmentGroup {
  /** The table, an average and a value: each segment is bound whole, once, in this order of first use. */
  members: readonly [table: Tensor, ema: Tensor, value: Tensor];
  /** Binding (1-based) of the table's, the averages' and the values' segment. */
  roles: readonly [number, number, number];
  /** Per pair [ema offset, value offset, size, first workgroup] (elements), then the pair of each workgroup. */
  table: Tensor;
  pairs: number;
  workgroups: number;
}

const elementOffset = (t: Tensor) => t.storage.allocation.offset / 4 + t.offset;

/**
 * `emaUpdate` (optimizer.ts) of many (average, value) pairs in a few dispatches instead of one per pair:
 * pairs are grouped by the arena segments they lie in, and each group binds its segment
 * buffers whole (each once: one buffer may not back two writable bindings) and walks a
 * table of tensor offsets. A model's ~300 weights and buffers take one dispatch instead of
 * ~300, each costing the host ~20 µs to record. Segments are bound as u32 words and the
 * values bitcast, so the table can share a segment with them; the arithmetic is
 * `emaUpdate`'s, bit for bit. Built once for tensors that stay allocated (an EMA's averages
 * and the model's weights), all contiguous f32.
 */
export class EmaBatch {
  private readonly groups: SegmentGroup[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly emas: readonly Tensor[],
    private readonly values: readonly Tensor[],
  ) {
    if (emas.length !== values.length) throw new Error(`EmaBatch: ${emas.length} averages for ${values.length} values`);
    const bySegments = new Map<string, number[]>();
    emas.forEach((e, i) => {
      const v = values[i];
      if (e.size !== v.size) throw new Error(`EmaBatch: pair ${i} has ${e.size} averages for ${v.size} values`);
      if (e.dtype !== 'f32' || v.dtype !== 'f32' || !e.isContiguous() || !v.isContiguous()) {
        throw new Error(`EmaBatch: pair ${i} is not two contiguous f32 tensors`);
      }
      const key = `${e.storage.allocation.segment}:${v.storage.allocation.segment}`;
      bySegments.set(key, [...(bySegments.get(key) ?? []), i]);
    });
    for (const indices of bySegments.values()) this.groups.push(this.group(indices.map((i) => [emas[i], values[i]] as const)));
  }

  private group(pairs: readonly (readonly [Tensor, Tensor])[]): SegmentGroup {
    const entries: number[] = [];
    const owner: number[] = [];
    pairs.forEach(([e, v], p) => {
      entries.push(elementOffset(e), elementOffset(v), e.size, owner.length);
      for (let c = 0; c < Math.max(1, Math.ceil(e.size / CHUNK)); c++) owner.push(p);
    });
    const table = keep(Tensor.fromHost(this.engine, Uint32Array.from([...entries, ...owner]), [entries.length + owner.length], 'u32', 'optimizer'));
    const members = [table, pairs[0][0], pairs[0][1]] as const;
    const segments = members.map((t) => t.storage.allocation.segment);
    const distinct = [...new Set(segments)];
    const roles = segments.map((s) => distinct.indexOf(s) + 1) as [number, number, number];
    return { members, roles, table, pairs: pairs.length, workgroups: owner.length };
  }

  /** Whether this batch was built for exactly these tensors (same objects, in order, none disposed). */
  covers(emas: readonly Tensor[], values: readonly Tensor[]): boolean {
    const same = (a: readonly Tensor[], b: readonly Tensor[]) => a.length === b.length && a.every((t, i) => t === b[i] && !t.isDisposed);
    return same(this.emas, emas) && same(this.values, values);
  }

  /** ema = decay * ema + (1 - decay) * value for every pair. */
  update(decay: number): void {
    for (const g of this.groups) {
      const [T, E, V] = g.roles.map((r) => `S${r}`);
      const bound = Math.max(...g.roles);
      this.engine.run(
        {
          key: `optim:ema-batch:${g.roles.join('')}`,
          name: 'ema update (batched)',
          bindings: bound,
          build: () => /* wgsl */ `
struct Params { decay: f32, pairs: u32, workgroups: u32, tableAt: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${[...Array(bound).keys()].map((i) => `@group(0) @binding(${i + 1}) var<storage, read_write> S${i + 1}: array<u32>;`).join('\n')}
fn entry(k: u32) -> u32 { return ${T}[P.tableAt + k]; }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= P.workgroups) { return; }
  let p = entry(4u * P.pairs + w);
  let emaAt = entry(4u * p);
  let valueAt = entry(4u * p + 1u);
  let size = entry(4u * p + 2u);
  let start = (w - entry(4u * p + 3u)) * ${CHUNK}u;
  for (var j = 0u; j < 4u; j++) {
    let i = start + j * ${WG}u + t;
    if (i < size) {
      let e = bitcast<f32>(${E}[emaAt + i]);
      let v = bitcast<f32>(${V}[valueAt + i]);
      ${E}[emaAt + i] = bitcast<u32>(P.decay * e + (1.0 - P.decay) * v);
    }
  }
}`,
        },
        () => {
          const slices = g.members.map((t) => this.engine.segmentSlice(t.storage.allocation));
          return [...new Set(g.roles)].map((r) => slices[g.roles.indexOf(r)]);
        },
        new Params().f32(decay).u32(g.pairs, g.workgroups, elementOffset(g.table)).build(),
        grid1d(this.engine, g.workgroups * WG, WG),
      );
    }
  }

  dispose(): void {
    for (const g of this.groups) g.table.dispose();
  }
}
