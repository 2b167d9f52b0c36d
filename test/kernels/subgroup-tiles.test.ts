import { describe, expect, it } from 'vitest';
import { CONV_STAGE_AXES } from '../../src/kernels/conv2d-subgroup.wgsl.js';
import { subgroupWorkgroupBytes, type SubgroupTiles } from '../../src/kernels/matmul-subgroup.wgsl.js';
import { firstFitting, fitSubgroupTiles, parseSubgroupVariant, subgroupVariantTiles, withinThreadLimit, type SubgroupTileRules } from '../../src/kernels/subgroup-tiles.js';

const frag = { m: 16, n: 16, k: 16 };
const tiles = (sgSize: number, sgRows: number, sgCols: number): SubgroupTiles => ({ frag, sgSize, sgRows, sgCols, fragsM: 4, fragsN: 2, bk: 32, buffers: 2 });
const rules = (smem: number, maxThreads = 256): SubgroupTileRules => ({ op: 'conv2d', axes: CONV_STAGE_AXES, splits: () => true, smem, maxThreads });

describe('tensor-core tile choices', () => {
  it('keeps default tiles within the invocation limit, halving the larger side of the subgroup grid', () => {
    expect(withinThreadLimit(tiles(32, 4, 2), 256)).toMatchObject({ sgRows: 4, sgCols: 2 });
    expect(withinThreadLimit(tiles(64, 4, 2), 256)).toMatchObject({ sgRows: 2, sgCols: 2 });
    expect(withinThreadLimit(tiles(64, 2, 4), 256)).toMatchObject({ sgRows: 2, sgCols: 2 });
    expect(withinThreadLimit(tiles(128, 4, 2), 256)).toMatchObject({ sgRows: 1, sgCols: 2 });
    expect(withinThreadLimit(tiles(64, 4, 2), 1024)).toMatchObject({ sgRows: 4, sgCols: 2 });
  });

  it('rejects a forced variant over the invocation limit with the numbers', () => {
    expect(() => parseSubgroupVariant('sg:4x2:4x2:32', frag, 64, rules(65536))).toThrow(
      'conv2d: variant "sg:4x2:4x2:32": 8 subgroups of 64 invocations exceed the device\'s 256 per workgroup',
    );
    expect(parseSubgroupVariant('sg:4x2:4x2:32', frag, 32, rules(65536))).toMatchObject({ sgRows: 4, sgCols: 2, fragsM: 4, fragsN: 2, bk: 32, buffers: 2 });
    expect(parseSubgroupVariant('sg:4x2:4x2:32/1@2', frag, 32, rules(65536))).toMatchObject({ bk: 32, buffers: 1, ahead: 2 });
    expect(parseSubgroupVariant('sg:4x2:4x2:32', frag, 32, rules(65536)).ahead).toBeUndefined();
    expect(parseSubgroupVariant('sg:4x2:4x2:32@1', frag, 32, rules(65536)).ahead).toBeUndefined();
    expect(() => parseSubgroupVariant('sg:4x2:4x2:32@3', frag, 32, rules(65536))).toThrow(/unreadable/);
  });

  it('changes the default tiles: sg as is, /1 and /2 buffers at the deepest depth that fits (else as they are), @1 and @2 loads ahead', () => {
    const t = tiles(32, 4, 2);
    const bytes = (o: Partial<SubgroupTiles>) => subgroupWorkgroupBytes({ ...t, ...o }, CONV_STAGE_AXES);
    const shallowDefault = { ...t, bk: 16, ahead: 2 as const };
    const of = (variant: string, smem = 65536) => subgroupVariantTiles(variant, () => shallowDefault, frag, 32, rules(smem));
    expect(of('sg')).toEqual(shallowDefault);
    expect(of('sg@1')).toEqual({ ...t, bk: 16 });
    expect(of('sg/1')).toEqual({ ...shallowDefault, bk: 32, buffers: 1 });
    expect(of('sg/2@1')).toEqual({ ...t, bk: 32, buffers: 2 });
    expect(of('sg/2', bytes({}) - 1)).toEqual({ ...shallowDefault, bk: 16, buffers: 2 }); // depth 32 does not fit twice
    expect(of('sg/2@1', bytes({ bk: 16 }) - 1)).toEqual({ ...t, bk: 16 }); // two buffers fit at no depth: the defaults' own
    expect(of('sg:8x1:2x4:32@2')).toMatchObject({ sgRows: 8, fragsN: 4, ahead: 2 });
    expect(() => of('sg/3')).toThrow(/unreadable/);
  });

  it('fits tiles into the workgroup memory: double-buffered, else depth 16 double-buffered, else one buffer, else one of depth 16, else none; depth or one buffer first on request', () => {
    const t = tiles(32, 4, 2);
    const bytes = (o: Partial<SubgroupTiles>) => subgroupWorkgroupBytes({ ...t, ...o }, CONV_STAGE_AXES);
    expect(fitSubgroupTiles(t, rules(bytes({})))).toMatchObject({ bk: 32, buffers: 2 });
    expect(fitSubgroupTiles(t, rules(bytes({}) - 1))).toMatchObject({ bk: 16, buffers: 2 });
    expect(fitSubgroupTiles(t, rules(bytes({ bk: 16 }) - 1))).toMatchObject({ bk: 32, buffers: 1 });
    expect(fitSubgroupTiles(t, rules(bytes({ buffers: 1 }) - 1))).toMatchObject({ bk: 16, buffers: 1 });
    expect(fitSubgroupTiles(t, rules(bytes({ bk: 16, buffers: 1 }) - 1))).toBeNull();
    // depth first: one buffer of depth 32 before two of depth 16 (the smaller here: 2 x (16 + 8) halves per row against 32 + 8)
    expect(bytes({ bk: 16 })).toBeGreaterThan(bytes({ buffers: 1 }));
    expect(fitSubgroupTiles(t, rules(bytes({})), null, 'depth')).toMatchObject({ bk: 32, buffers: 2 });
    expect(fitSubgroupTiles(t, rules(bytes({}) - 1), null, 'depth')).toMatchObject({ bk: 32, buffers: 1 });
    expect(fitSubgroupTiles({ ...t, bk: 64 }, rules(bytes({ bk: 64, buffers: 1 }) - 1), null, 'depth')).toMatchObject({ bk: 16, buffers: 2 });
    expect(firstFitting([{ ...t, prefer: 'depth' }], rules(bytes({}) - 1))).toEqual({ ...t, bk: 32, buffers: 1 });
    // one buffer first: at the requested depth where two would fit too, else at depth 16, never two
    expect(fitSubgroupTiles(t, rules(1 << 20), null, 'oneBuffer')).toMatchObject({ bk: 32, buffers: 1 });
    expect(fitSubgroupTiles(t, rules(bytes({ buffers: 1 }) - 1), null, 'oneBuffer')).toMatchObject({ bk: 16, buffers: 1 });
    expect(fitSubgroupTiles(t, rules(bytes({ bk: 16, buffers: 1 }) - 1), null, 'oneBuffer')).toBeNull();
    expect(firstFitting([{ ...t, prefer: 'oneBuffer' }], rules(1 << 20))).toEqual({ ...t, bk: 32, buffers: 1 });
    // a forced buffer count keeps the depth too
    expect(fitSubgroupTiles(t, rules(bytes({ buffers: 1 })), 1)).toMatchObject({ bk: 32, buffers: 1 });
    expect(fitSubgroupTiles(t, rules(bytes({ buffers: 1 }) - 1), 1)).toBeNull();
    // tiles whose chunks do not split over the threads do not fit at any size
    expect(fitSubgroupTiles(t, { ...rules(1 << 20), splits: (o) => o.bk === 16 })).toMatchObject({ bk: 16, buffers: 2 });
  });

  it('takes the first default that fits the device, and says so when none does', () => {
    const big = { ...tiles(32, 8, 1), fragsM: 2, fragsN: 6 };
    const small = { ...tiles(32, 4, 2), fragsM: 2, fragsN: 1 };
    const smallBytes = subgroupWorkgroupBytes({ ...small, buffers: 1, bk: 16 }, CONV_STAGE_AXES);
    expect(firstFitting([big, small], rules(1 << 20))).toMatchObject({ sgRows: 8, fragsN: 6, buffers: 2 });
    expect(firstFitting([big, small], rules(smallBytes))).toMatchObject({ sgRows: 4, fragsN: 1 });
    expect(firstFitting([{ ...big, sgSize: 64 }], rules(1 << 20))).toMatchObject({ sgRows: 4, sgCols: 1 }); // 8 x 64 lanes > 256 invocations
    expect(() => firstFitting([big, small], rules(smallBytes - 1))).toThrow(`conv2d: no tensor-core tile fits this device's ${smallBytes - 1} bytes of workgroup memory`);
  });
});
