import { convGeometry, type Conv2dOptions } from './conv2d.js';
import type { HostTensor } from './host-tensor.js';

type ConvShape = Pick<Conv2dOptions, 'stride' | 'padding' | 'groups'>;

/** Visits every (output pixel, output channel, tap, input channel) term of an NHWC conv with its flat x, w and y indices. */
function forEachTerm(xShape: readonly number[], wShape: readonly number[], o: ConvShape, visit: (xi: number, wi: number, yi: number) => void): void {
  const g = convGeometry(xShape, wShape, o);
  const cg = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  for (let n = 0; n < g.n; n++)
    for (let oh = 0; oh < g.ho; oh++)
      for (let ow = 0; ow < g.wo; ow++)
        for (let co = 0; co < g.cout; co++) {
          const grp = Math.floor(co / coutG);
          const yi = ((n * g.ho + oh) * g.wo + ow) * g.cout + co;
          for (let kh = 0; kh < g.kh; kh++) {
            const hi = oh * g.sh - g.ph + kh;
            if (hi < 0 || hi >= g.h) continue;
            for (let kw = 0; kw < g.kw; kw++) {
              const wi = ow * g.sw - g.pw + kw;
              if (wi < 0 || wi >= g.w) continue;
              for (let c = 0; c < cg; c++) visit(((n * g.h + hi) * g.w + wi) * g.cin + grp * cg + c, ((co * g.kh + kh) * g.kw + kw) * cg + c, yi);
            }
          }
        }
}

/** dL/dx of an NHWC conv in float64, given dy. */
export function conv2dInputGradCpu(dy: HostTensor, w: HostTensor, xShape: readonly number[], o: ConvShape = {}): HostTensor {
  const out = new Float64Array(xShape.reduce((a, b) => a * b, 1));
  forEachTerm(xShape, w.shape, o, (xi, wi, yi) => (out[xi] += dy.data[yi] * w.data[wi]));
  return { shape: [...xShape], data: out };
}

/** dL/dw of an NHWC conv in float64, given dy. */
export function conv2dWeightGradCpu(dy: HostTensor, x: HostTensor, wShape: readonly number[], o: ConvShape = {}): HostTensor {
  const out = new Float64Array(wShape.reduce((a, b) => a * b, 1));
  forEachTerm(x.shape, wShape, o, (xi, wi, yi) => (out[wi] += dy.data[yi] * x.data[xi]));
  return { shape: [...wShape], data: out };
}
