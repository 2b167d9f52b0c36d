import { BatchNorm2d } from '../nn/batch-norm.js';
import { Conv2d } from '../nn/conv2d.js';
import type { Module } from '../nn/module.js';
import type { DetectionModel } from './detection-model.js';
import { Detect } from './modules/detect.js';
import { Upsample } from './modules/resample.js';

export interface LayerRowSummary {
  index: number;
  from: number | number[];
  repeats: number;
  params: number;
  module: string;
  args: unknown[];
}

export interface ModelSummary {
  layers: LayerRowSummary[];
  params: number;
  /** Parameters that take gradients (all but DFL's fixed bins). */
  gradients: number;
  /** GFLOPs at imgsz x imgsz (see modelGflops). */
  gflops: number;
  imgsz: number;
}

const paramsOf = (m: Module) => m.namedParameters().reduce((s, [, v]) => s + v.data.size, 0);

/**
 * GFLOPs as the reference reports them (thop on the unfused model, x 2): per output element,
 * a convolution counts its (Cin / groups) KH KW multiply-accumulates, a BatchNorm 4 (normalize,
 * affine), a nearest upsample 1; activations, pooling, concatenation and the attention
 * products count nothing.
 */
export function modelGflops(model: DetectionModel, imgsz = 640): number {
  const sizes = model.layerSizes(imgsz, imgsz);
  let macs = 0;
  const count = (m: Module, [h, w]: [number, number], channels: number) => {
    for (const [, c] of m.namedModules()) {
      if (c instanceof Conv2d) macs += h * w * c.cout * c.fanIn;
      else if (c instanceof BatchNorm2d) macs += 4 * h * w * c.state.weight.data.size;
      else if (c instanceof Upsample) macs += h * w * channels;
    }
  };
  for (const l of model.layers) {
    const m = l.module;
    if (m instanceof Detect) l.from.forEach((f, i) => [m.cv2.items[i], m.cv3.items[i]].forEach((branch) => count(branch, sizes[f], 0)));
    else count(m, sizes[l.index], l.channels);
  }
  return (2 * macs) / 1e9;
}

/** The layer table (index, from, repeats, params, module, arguments) and totals. */
export function modelSummary(model: DetectionModel, imgsz = 640): ModelSummary {
  const layers = model.layers.map((l) => ({
    index: l.index,
    from: l.fromSpec,
    repeats: l.repeats,
    params: paramsOf(l.module),
    module: l.type,
    args: l.args,
  }));
  const all = model.namedParameters();
  return {
    layers,
    params: all.reduce((s, [, v]) => s + v.data.size, 0),
    gradients: all.filter(([, v]) => v.requiresGrad).reduce((s, [, v]) => s + v.data.size, 0),
    gflops: modelGflops(model, imgsz),
    imgsz,
  };
}
