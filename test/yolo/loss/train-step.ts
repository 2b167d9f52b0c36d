/** One training step of a fixture model on TAG.train320 (two coco8 images at 320), for the parity tests. */
import { backward } from '../../../src/autograd/backward.js';
import { Var } from '../../../src/autograd/variable.js';
import type { Engine } from '../../../src/gpu/engine.js';
import { Tensor } from '../../../src/gpu/tensor.js';
import type { HostEntry } from '../../../src/nn/module.js';
import { SafetensorsFile } from '../../../src/io/safetensors.js';
import { buildModel } from '../../../src/yolo/build.js';
import type { DetectionModel } from '../../../src/yolo/detection-model.js';
import { detectionLoss } from '../../../src/yolo/loss/detection-loss.js';
import { loadWeights } from '../../../src/yolo/weights.js';
import { relL2 } from '../../helpers/gpu.js';
import { nchwToNhwc } from '../../helpers/nchw.js';
import { FIXTURES } from '../../helpers/shared.js';
import { toAnchorOrder } from './heads.js';
import { referenceLoss, type LossResult } from './reference.js';

export interface TrainStep {
  items: number[];
  /** The float64 reference loss on this step's own head outputs. */
  reference: LossResult;
  /** Every trainable parameter's gradient in PyTorch names and layouts. */
  grads: Map<string, HostEntry>;
  names: string[];
}

export const fixtureOf = (tag: string) => SafetensorsFile.open(`${FIXTURES}/${tag}.train320.safetensors`);

/** Runs forward, the loss and backward in train mode; `adjust` may change the loaded weights first. */
export async function trainStep(engine: Engine, tag: string, spec: string, adjust?: (model: DetectionModel) => Promise<void>): Promise<TrainStep> {
  const fixture = fixtureOf(tag);
  const model = buildModel(engine, spec).train();
  loadWeights(model, `${FIXTURES}/${tag}.weights.safetensors`);
  await adjust?.(model);
  const img = fixture.getFloat32('img');
  const [n, , h, w] = img.shape;
  const x = new Var(Tensor.fromHost(engine, nchwToNhwc(img.data, img.shape), [n, h, w, 3], 'f32', 'input'));
  const targets = { batchIdx: fixture.getFloat32('batch_idx').data, cls: fixture.getFloat32('cls').data, bboxes: fixture.getFloat32('bboxes').data };
  const out = model.forward(x);
  const { loss, items } = detectionLoss(out, targets, { imgSize: [h, w], nc: model.nc });
  const grids = out.box.map((v) => [v.shape[1], v.shape[2]] as [number, number]);
  const box = toAnchorOrder(await Promise.all(out.box.map((v) => v.data.read())), grids, n, 4 * model.regMax);
  const cls = toAnchorOrder(await Promise.all(out.cls.map((v) => v.data.read())), grids, n, model.nc);
  const reference = referenceLoss({ imgSize: [h, w], grids, batch: n, nc: model.nc, regMax: model.regMax, box, cls, targets });
  backward(loss);
  const result = Array.from(await items.read());
  const trainable = model.namedParameters().filter(([, v]) => v.requiresGrad);
  const gradOf = new Map(trainable.map(([, v]) => [v.data, v.grad!]));
  const all = await model.stateDict((own) => gradOf.get(own) ?? own);
  const names = trainable.map(([name]) => name);
  const grads = new Map(names.map((name) => [name, all.get(name)!]));
  for (const v of [loss, x]) v.dispose();
  items.dispose();
  model.dispose();
  return { items: result, reference, grads, names };
}

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

/**
 * BatchNorm biases whose true gradient is zero: the bias of a Conv without activation (SPPF's
 * cv1, PSA's projections) adds a per-channel constant that reaches the loss only through
 * shift-invariant ops (max-pools, residual adds, 1x1 convolutions) into a BatchNorm with batch
 * statistics, which subtracts it again. Both sides hold rounding noise there; they are recognized
 * by a gradient below 1e-2 of the same BatchNorm's weight gradient.
 */
export function isZeroGradient(name: string, grads: Map<string, HostEntry>): boolean {
  if (!name.endsWith('.bn.bias')) return false;
  return norm(grads.get(name)!.data) < 1e-2 * norm(grads.get(name.replace(/bias$/, 'weight'))!.data);
}

/** Relative L2 error of each parameter's gradient against the fixture's, worst first. */
export function gradientErrors(step: TrainStep, fixture: SafetensorsFile): [string, number][] {
  const errors = step.names.map((name): [string, number] => [name, relL2(step.grads.get(name)!.data, fixture.getFloat32(`grad.${name}`).data)]);
  return errors.sort((a, b) => b[1] - a[1]);
}
