import { convGeometry, type Conv2dOptions } from './conv2d.js';
import type { HostTensor } from './host-tensor.js';

export interface Conv2dCpuOptions extends Pick<Conv2dOptions, 'stride' | 'padding' | 'groups' | 'silu'> {
  bias?: ArrayLike<number>;
  scale?: ArrayLike<number>;
  shift?: ArrayLike<number>;
}

/** Direct NHWC convolution in float64 (weight [Cout,KH,KW,Cin/groups]), with the same epilogue. */
export function conv2dCpu(x: HostTensor, w: HostTensor, o: Conv2dCpuOptions = {}): HostTensor {
  const g = convGeometry(x.shape, w.shape, { stride: o.stride, padding: o.padding, groups: o.groups });
  const cg = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  const out = new Float64Array(g.n * g.ho * g.wo * g.cout);
  for (let n = 0; n < g.n; n++)
    for (let oh = 0; oh < g.ho; oh++)
      for (let ow = 0; ow < g.wo; ow++)
        for (let co = 0; co < g.cout; co++) {
          const grp = Math.floor(co / coutG);
          let v = 0;
          for (let kh = 0; kh < g.kh; kh++) {
            const hi = oh * g.sh - g.ph + kh;
            if (hi < 0 || hi >= g.h) continue;
            for (let kw = 0; kw < g.kw; kw++) {
              const wi = ow * g.sw - g.pw + kw;
              if (wi < 0 || wi >= g.w) continue;
              for (let c = 0; c < cg; c++) {
                v += x.data[((n * g.h + hi) * g.w + wi) * g.cin + grp * cg + c] * w.data[((co * g.kh + kh) * g.kw + kw) * cg + c];
              }
            }
          }
          if (o.bias) v += o.bias[co];
          if (o.scale && o.shift) v = v * o.scale[co] + o.shift[co];
          if (o.silu) v = v / (1 + Math.exp(-v));
          out[((n * g.ho + oh) * g.wo + ow) * g.cout + co] = v;
        }
  return { shape: [g.n, g.ho, g.wo, g.cout], data: out };
}
