import type { Var } from '../autograd/variable.js';
import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { keep } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { fill } from '../kernels/copy.js';
import { gradientControl } from '../kernels/grad-norm.js';
import { adamwUpdateMany, sgdUpdateMany } from '../kernels/optimizer.js';
import type { HostEntry, Module } from './module.js';

/**
 * Parameter groups as the reference trainer builds them: pg0 = biases (no decay),
 * pg1 = weights with decay, pg2 = normalization-layer weights (no decay).
 */
export interface ParamGroup {
  name: 'pg0' | 'pg1' | 'pg2';
  params: Var[];
  lr: number;
  weightDecay: number;
  momentum: number;
}

/** Marks a module whose `weight` is a normalization scale (goes to pg2, no decay). */
export interface NormLayer {
  readonly isNormLayer: true;
}

function isNormLayer(m: Module): boolean {
  return (m as Partial<NormLayer>).isNormLayer === true;
}

export function referenceParamGroups(model: Module, lr: number, weightDecay: number, momentum: number): ParamGroup[] {
  const groups: ParamGroup[] = [
    { name: 'pg0', params: [], lr, weightDecay: 0, momentum },
    { name: 'pg1', params: [], lr, weightDecay, momentum },
    { name: 'pg2', params: [], lr, weightDecay: 0, momentum },
  ];
  for (const [, m] of model.namedModules()) {
    for (const [name, v] of m.ownParameters()) {
      if (!v.requiresGrad) continue;
      groups[name === 'bias' ? 0 : isNormLayer(m) ? 2 : 1].params.push(v);
    }
  }
  return groups;
}

/** State tensors of an optimizer: zero-initialized, category `optimizer`, owned by the optimizer. */
function zerosLike(engine: Engine, v: Var): Tensor {
  const t = keep(Tensor.empty(engine, v.data.shape, 'f32', 'optimizer'));
  fill(t, 0);
  return t;
}

export interface StepOptions {
  /** Clip the global gradient norm (after unscaling) to this; the reference uses 10. */
  maxNorm?: number;
  /** The loss scale the gradients carry. */
  lossScale?: number;
}

/**
 * An optimizer's state on the host, for checkpoints: its kind, the step count and every state
 * tensor that exists, named `<group>.<index in group>.<state>` (`pg1.17.momentum_buffer`,
 * `pg0.3.exp_avg`) in the engine's layout.
 */
export interface OptimizerState {
  kind: 'SGD' | 'AdamW';
  /** Steps taken (skipped f16 steps not counted). */
  steps: number;
  tensors: Map<string, HostEntry>;
}

/** One hyperparameter object per group of these parameters (the batched update tells groups apart by identity). */
function perGroup<H>(params: readonly { group: ParamGroup }[], make: (group: ParamGroup) => H): Map<ParamGroup, H> {
  const out = new Map<ParamGroup, H>();
  for (const { group } of params) if (!out.has(group)) out.set(group, make(group));
  return out;
}

/** A control tensor's initial value: no clipping, no skip, `steps` steps taken. */
function controlWith(steps: number): Float32Array {
  return Float32Array.from([1, 0, 0, steps]);
}

/**
 * Shared optimizer machinery: the GPU control tensor [gradMul, skip, norm, steps] computed from
 * all gradients (clipping, the inf/NaN check and the count of steps taken, without a
 * readback), then per-parameter updates.
 */
export abstract class Optimizer {
  readonly control: Tensor;
  abstract readonly kind: OptimizerState['kind'];

  constructor(
    protected readonly engine: Engine,
    readonly groups: ParamGroup[],
  ) {
    this.control = keep(Tensor.fromHost(engine, controlWith(0), [4], 'f32', 'optimizer'));
  }

  /** Updates every parameter that has a gradient. Returns nothing: read `control` for norm/skip. */
  step(options: StepOptions = {}): void {
    const all = this.groups.flatMap((g) => g.params).filter((v) => v.grad);
    if (all.length === 0) return;
    gradientControl(
      all.map((v) => v.grad!),
      this.control,
      { maxNorm: options.maxNorm ?? Infinity, lossScale: options.lossScale ?? 1 },
    );
    this.update(this.groups.flatMap((group) => group.params.filter((v) => v.grad).map((v) => ({ group, v }))));
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const v of g.params) v.zeroGrad();
  }

  /** Updates these parameters (each with a gradient), all in few dispatches. */
  protected abstract update(params: readonly { group: ParamGroup; v: Var }[]): void;

  /** The state tensors of one parameter by name; created (zero) with `create`, else undefined until its first update. */
  protected abstract stateOf(v: Var, create: boolean): Record<string, Tensor> | undefined;

  abstract stateTensors(): Tensor[];

  async state(): Promise<OptimizerState> {
    const named = this.groups.flatMap((g) =>
      g.params.flatMap((v, i) => Object.entries(this.stateOf(v, false) ?? {}).map(([name, t]) => [`${g.name}.${i}.${name}`, t] as const)),
    );
    const [control, ...values] = await Tensor.readAll([this.control, ...named.map(([, t]) => t)]);
    const tensors = new Map<string, HostEntry>(named.map(([key, t], i) => [key, { shape: [...t.shape], data: Float32Array.from(values[i]) }]));
    return { kind: this.kind, steps: control[3], tensors };
  }

  /** Restores a saved state into an optimizer over the same parameter groups. */
  loadState(s: OptimizerState, source = 'optimizer state'): void {
    if (s.kind !== this.kind) throw new UserError(`${source}: saved by ${s.kind}, this run uses ${this.kind}`);
    for (const [key, entry] of s.tensors) {
      const [groupName, index, name] = key.split('.');
      const v = this.groups.find((g) => g.name === groupName)?.params[Number(index)];
      const t = v ? this.stateOf(v, true)![name] : undefined;
      if (!t) throw new UserError(`${source}: '${key}' names no state of this optimizer's parameters`);
      if (entry.shape.join(',') !== t.shape.join(',')) throw new UserError(`${source}: '${key}' has shape [${entry.shape}], the parameter's is [${t.shape}]`);
      t.write(entry.data);
    }
    this.control.write(controlWith(s.steps));
  }

  dispose(): void {
    this.control.dispose();
    for (const t of this.stateTensors()) t.dispose();
  }
}

export class SGD extends Optimizer {
  readonly kind = 'SGD';
  private readonly buffers = new Map<Var, Tensor>();

  constructor(
    engine: Engine,
    groups: ParamGroup[],
    readonly nesterov: boolean,
  ) {
    super(engine, groups);
  }

  protected stateOf(v: Var, create: boolean): Record<string, Tensor> | undefined {
    let buf = this.buffers.get(v);
    if (!buf && create) this.buffers.set(v, (buf = zerosLike(this.engine, v)));
    return buf && { momentum_buffer: buf };
  }

  protected update(params: readonly { group: ParamGroup; v: Var }[]): void {
    const hyper = perGroup(params, (group) => ({ lr: group.lr, momentum: group.momentum, nesterov: this.nesterov, weightDecay: group.weightDecay }));
    sgdUpdateMany(
      params.map(({ group, v }) => ({ param: v.data, grad: v.grad!, state: [this.stateOf(v, true)!.momentum_buffer], h: hyper.get(group)! })),
      this.control,
    );
  }

  stateTensors(): Tensor[] {
    return [...this.buffers.values()];
  }
}

export class AdamW extends Optimizer {
  readonly kind = 'AdamW';
  private readonly moments = new Map<Var, { m: Tensor; v: Tensor }>();

  constructor(
    engine: Engine,
    groups: ParamGroup[],
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
  ) {
    super(engine, groups);
  }

  protected stateOf(v: Var, create: boolean): Record<string, Tensor> | undefined {
    let s = this.moments.get(v);
    if (!s && create) this.moments.set(v, (s = { m: zerosLike(this.engine, v), v: zerosLike(this.engine, v) }));
    return s && { exp_avg: s.m, exp_avg_sq: s.v };
  }

  /** The group's `momentum` is beta1, as the reference maps it. */
  protected update(params: readonly { group: ParamGroup; v: Var }[]): void {
    const hyper = perGroup(params, (group) => ({ lr: group.lr, beta1: group.momentum, beta2: this.beta2, eps: this.eps, weightDecay: group.weightDecay }));
    adamwUpdateMany(
      params.map(({ group, v }) => {
        const { exp_avg, exp_avg_sq } = this.stateOf(v, true)!;
        return { param: v.data, grad: v.grad!, state: [exp_avg, exp_avg_sq], h: hyper.get(group)! };
      }),
      this.control,
    );
  }

  stateTensors(): Tensor[] {
    return [...this.moments.values()].flatMap((s) => [s.m, s.v]);
  }
}

/**
 * Dynamic loss scaling for f16 training (the reference's GradScaler defaults): start at
 * 2^16; a step with inf/NaN gradients is skipped and halves the scale; 2000 clean steps
 * in a row double it.
 */
export class LossScaler {
  private clean = 0;

  constructor(
    public scale = 2 ** 16,
    readonly growthInterval = 2000,
  ) {}

  /** Records whether the last step's gradients were finite. */
  update(skipped: boolean): void {
    if (skipped) {
      this.scale /= 2;
      this.clean = 0;
    } else if (++this.clean >= this.growthInterval) {
      this.scale *= 2;
      this.clean = 0;
    }
  }

  state(): { scale: number; clean: number } {
    return { scale: this.scale, clean: this.clean };
  }

  restore(s: { scale: number; clean: number }): void {
    this.scale = s.scale;
    this.clean = s.clean;
  }
}
