import { afterAll, describe, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.js';
import { conv2dCpu } from '../../../src/kernels/conv2d.cpu.js';
import { hostTensor, type HostTensor } from '../../../src/kernels/host-tensor.js';
import { Attention } from '../../../src/yolo/modules/attention.js';
import type { Conv } from '../../../src/yolo/modules/conv.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { randomData, testEngine } from '../../helpers/gpu.js';

/** Random weights and BatchNorm statistics for a Conv block; returns them for the reference. */
function randomize(c: Conv, seed: number): { w: HostTensor; scale: number[]; shift: number[]; groups: number; padding: number } {
  const w = randomData(c.conv.weight.data.size, seed, -0.5, 0.5);
  c.conv.weight.data.write(w);
  const n = c.conv.cout;
  const [gamma, beta, mean, variance] = [randomData(n, seed + 1, 0.5, 1.5), randomData(n, seed + 2), randomData(n, seed + 3), randomData(n, seed + 4, 0.5, 2)];
  const s = c.bn.state;
  [s.weight.data, s.bias.data, s.runningMean, s.runningVar].forEach((t, i) => t.write([gamma, beta, mean, variance][i]));
  const scale = Array.from(gamma, (g, i) => g / Math.sqrt(variance[i] + s.eps));
  const shift = Array.from(beta, (b, i) => b - mean[i] * scale[i]);
  return { w: hostTensor(c.conv.weight.shape, w), scale, shift, groups: c.conv.groups, padding: c.conv.padding };
}

/** The Attention module in float64 (eval BatchNorm: running statistics). */
function attentionCpu(x: HostTensor, a: Attention, p: ReturnType<typeof randomize>[]): HostTensor {
  const [qkvP, projP, peP] = p;
  const conv = (t: HostTensor, q: (typeof p)[0]) => conv2dCpu(t, q.w, { scale: q.scale, shift: q.shift, groups: q.groups, padding: q.padding });
  const [b, h, w] = x.shape;
  const n = h * w;
  const { numHeads: heads, keyDim: kd, headDim: hd, dim } = a;
  const qkv = conv(x, qkvP);
  const per = 2 * kd + hd;
  const mixed = hostTensor([b, h, w, dim]);
  const vImage = hostTensor([b, h, w, dim]);
  const at = (bi: number, i: number, head: number, c: number) => qkv.data[(bi * n + i) * heads * per + head * per + c];
  for (let bi = 0; bi < b; bi++)
    for (let head = 0; head < heads; head++)
      for (let i = 0; i < n; i++) {
        const s = Array.from({ length: n }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < kd; d++) dot += at(bi, i, head, d) * at(bi, j, head, kd + d);
          return dot * a.scale;
        });
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((u, v) => u + v, 0);
        for (let d = 0; d < hd; d++) {
          let o = 0;
          for (let j = 0; j < n; j++) o += (e[j] / z) * at(bi, j, head, 2 * kd + d);
          mixed.data[(bi * n + i) * dim + head * hd + d] = o;
          vImage.data[(bi * n + i) * dim + head * hd + d] = at(bi, i, head, 2 * kd + d);
        }
      }
  const pe = conv(vImage, peP);
  return conv(hostTensor(mixed.shape, mixed.data.map((v, i) => v + pe.data[i])), projP);
}

describe('Attention', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('matches the float64 reference and its input gradient matches finite differences', async () => {
    engine = await testEngine();
    const attention = new Attention(engine, 8, 2).eval();
    const params = [attention.qkv, attention.proj, attention.pe].map((c, i) => randomize(c, 10 * i + 1));
    await gradcheck(engine, (x) => attention.forward(x), (x) => attentionCpu(x, attention, params), [[2, 3, 5, 8]], 7);
    attention.dispose();
  });
});
