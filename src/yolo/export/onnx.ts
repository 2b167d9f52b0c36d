/**
 * A DetectionModel as an ONNX model with the reference's contract: input `images` [B, 3, H, W]
 * (RGB in [0, 1]), output `output0` [B, 4 + nc, anchors] (centre xywh in input pixels, then class
 * sigmoids); f32, or f16 throughout with `half`; batch, height and width symbolic with `dynamic`.
 * The graph is built from the model's layers and the weights of a state dict (PyTorch names and
 * layouts), so a model on a meta engine is enough: no GPU is needed.
 */
import { UserError } from '../../errors.js';
import { attr, irVersionForOpset, type OnnxDim, type OnnxModel } from '../../io/onnx-proto.js';
import type { HostEntry, Module } from '../../nn/module.js';
import type { DetectionModel } from '../detection-model.js';
import { Detect } from '../modules/detect.js';
import { Concat } from '../modules/resample.js';
import { emitDetect } from './detect-head.js';
import { emitModule, type EmitContext } from './emitters.js';
import { GraphBuilder } from './graph.js';

export interface OnnxExportOptions {
  /** Input height and width (multiples of the largest stride). */
  imgsz: [number, number];
  batch?: number;
  half?: boolean;
  dynamic?: boolean;
  opset?: number;
  /** Shown in the model's metadata, e.g. the weights file. */
  description?: string;
  producerVersion?: string;
}

/** Opsets the exporter is known to write correctly (Split and Softmax as in opset 13 on). */
export const OPSETS = { min: 13, max: 22, default: 17 };

/** A Python literal (the reference's metadata is read back with eval). */
const pyDict = (entries: [string, string][]) => `{${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
const pyBool = (b: boolean) => (b ? 'True' : 'False');

export function exportOnnx(model: DetectionModel, stateDict: ReadonlyMap<string, HostEntry>, o: OnnxExportOptions): OnnxModel {
  const opset = o.opset ?? OPSETS.default;
  if (!Number.isInteger(opset) || opset < OPSETS.min || opset > OPSETS.max) {
    throw new UserError(`ONNX export: opset ${opset} is not supported (${OPSETS.min} to ${OPSETS.max})`);
  }
  const [h, w] = o.imgsz;
  const stride = Math.max(...model.stride);
  if (h % stride !== 0 || w % stride !== 0 || h <= 0 || w <= 0) throw new UserError(`ONNX export: image size ${h}x${w} must be a positive multiple of the stride ${stride}`);
  const batch = o.batch ?? 1;
  const g = new GraphBuilder(o.half ?? false);
  const paths = new Map<Module, string>(model.namedModules().map(([name, m]) => [m, name]));
  const c: EmitContext = {
    g,
    path: (m) => paths.get(m) ?? '?',
    tensor: (name) => {
      const t = stateDict.get(name);
      if (!t) throw new UserError(`ONNX export: the weights have no tensor ${name}`);
      return t;
    },
  };

  const outputs: string[] = [];
  let result: string | null = null;
  for (const l of model.layers) {
    const inputs = l.from.map((f) => (f < 0 ? 'images' : outputs[f]));
    if (l.module instanceof Detect) result = emitDetect(l.module, inputs, model.stride, c);
    else if (l.module instanceof Concat) outputs[l.index] = g.op(c.path(l.module), 'Concat', inputs, [attr.int('axis', 1)]);
    else outputs[l.index] = emitModule(l.module, inputs[0], c);
  }
  if (!result) throw new Error('ONNX export: the model has no Detect layer');
  g.rename(result, 'output0');

  const sizes = model.layerSizes(h, w);
  const count = model.layers[model.layers.length - 1].from.reduce((s, f) => s + sizes[f][0] * sizes[f][1], 0);
  const dims = (dynamic: OnnxDim[], fixed: OnnxDim[]) => (o.dynamic ? dynamic : fixed);
  const names = model.names ?? Array.from({ length: model.nc }, (_, i) => `class${i}`);
  return {
    irVersion: irVersionForOpset(opset),
    opsetImports: [{ version: opset }],
    producerName: 'yolo-wgpu',
    producerVersion: o.producerVersion,
    graph: {
      name: 'main_graph',
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [{ name: 'images', elemType: g.floatType, shape: dims(['batch', 3, 'height', 'width'], [batch, 3, h, w]) }],
      outputs: [{ name: 'output0', elemType: g.floatType, shape: dims(['batch', 4 + model.nc, 'anchors'], [batch, 4 + model.nc, count]) }],
    },
    metadataProps: {
      description: o.description ?? `yolo-wgpu ${model.yaml.yaml_file ?? 'model'}`,
      author: 'yolo-wgpu',
      date: new Date().toISOString(),
      version: o.producerVersion ?? '',
      stride: String(stride),
      task: 'detect',
      batch: String(batch),
      imgsz: `[${h}, ${w}]`,
      names: pyDict(names.map((n, i) => [String(i), JSON.stringify(n)])),
      args: pyDict([
        ['"batch"', String(batch)],
        ['"half"', pyBool(o.half ?? false)],
        ['"dynamic"', pyBool(o.dynamic ?? false)],
        ['"opset"', String(opset)],
      ]),
      channels: '3',
    },
  };
}
