import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { keep } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { Var } from '../autograd/variable.js';

/** A host copy of one named tensor, in the layout of the file it came from (PyTorch's). */
export interface HostEntry {
  shape: number[];
  data: Float32Array;
}

/**
 * Base of every layer: named parameters (leaf Vars with gradients), buffers (state
 * without gradients, e.g. BatchNorm running statistics) and child modules, all kept
 * in registration order so that names match PyTorch's state dict (`model.0.conv.weight`).
 */
export abstract class Module {
  training = true;
  private readonly params = new Map<string, Var>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  constructor(readonly engine: Engine) {}

  /** `requiresGrad: false` makes a frozen parameter (still in the state dict and the parameter count). */
  protected parameter(name: string, shape: number[], init: Float32Array, requiresGrad = true): Var {
    const v = new Var(keep(Tensor.fromHost(this.engine, init, shape, 'f32', 'params')), requiresGrad);
    this.params.set(name, v);
    return v;
  }

  protected buffer(name: string, shape: number[], init: Float32Array): Tensor {
    const t = keep(Tensor.fromHost(this.engine, init, shape, 'f32', 'params'));
    this.buffers.set(name, t);
    return t;
  }

  protected module<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** This module's own parameters, without its children's. */
  ownParameters(): [string, Var][] {
    return [...this.params];
  }

  namedParameters(prefix = ''): [string, Var][] {
    const out: [string, Var][] = [...this.params].map(([n, v]) => [prefix + n, v]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.buffers].map(([n, t]) => [prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, m] of this.children) out.push(...m.namedModules(`${prefix}${n}.`));
    return out;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Converts a tensor from the file's layout into this module's, by its local name.
   * Layers whose storage layout differs from PyTorch's (convolutions: OIHW -> O,KH,KW,I) override it.
   */
  protected fromFileLayout(_name: string, entry: HostEntry): HostEntry {
    return entry;
  }

  /** Inverse of fromFileLayout, for export. */
  protected toFileLayout(_name: string, entry: HostEntry): HostEntry {
    return entry;
  }

  /**
   * Writes named host tensors (PyTorch names and layouts) into parameters and buffers.
   * Missing or mis-shaped entries are errors naming the tensor; `strict` also rejects extra ones.
   * `target` redirects each write to a tensor standing for the module's own (an EMA's copy).
   */
  loadStateDict(
    entries: Map<string, HostEntry>,
    options: { strict?: boolean; source?: string; target?: (own: Tensor) => Tensor } = {},
  ): void {
    const source = options.source ? ` in ${options.source}` : '';
    const used = new Set<string>();
    for (const [prefix, m] of this.namedModules()) {
      const local = [...m.params].map(([n, v]) => [n, v.data] as const).concat([...m.buffers]);
      for (const [name, target] of local) {
        const full = prefix ? `${prefix}.${name}` : name;
        const entry = entries.get(full);
        if (!entry) throw new UserError(`tensor ${full} is missing${source}`);
        const converted = m.fromFileLayout(name, entry);
        if (converted.shape.join(',') !== target.shape.join(',')) {
          throw new UserError(`tensor ${full}${source} has shape [${entry.shape}], the model expects [${target.shape}] (file layout)`);
        }
        (options.target?.(target) ?? target).write(converted.data);
        used.add(full);
      }
    }
    if (options.strict) {
      const extra = [...entries.keys()].filter((k) => !used.has(k));
      if (extra.length > 0) throw new UserError(`unexpected tensors${source}: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
    }
  }

  /**
   * Every parameter and buffer read back to the host in PyTorch names and layouts; `source` reads
   * a tensor standing for each of the module's own instead (an EMA's copy).
   */
  async stateDict(source?: (own: Tensor) => Tensor): Promise<Map<string, HostEntry>> {
    const entries = this.namedModules().flatMap(([prefix, m]) =>
      [...m.params].map(([n, v]) => [n, v.data] as const).concat([...m.buffers]).map(([name, own]) => ({ prefix, m, name, t: source?.(own) ?? own })),
    );
    const values = await Tensor.readAll(entries.map((e) => e.t));
    const out = new Map<string, HostEntry>();
    entries.forEach(({ prefix, m, name, t }, i) => {
      out.set(prefix ? `${prefix}.${name}` : name, m.toFileLayout(name, { shape: [...t.shape], data: Float32Array.from(values[i]) }));
    });
    return out;
  }

  parameterCount(): number {
    return this.namedParameters().reduce((s, [, v]) => s + v.data.size, 0);
  }

  dispose(): void {
    for (const [, v] of this.namedParameters()) v.dispose();
    for (const [, t] of this.namedBuffers()) t.dispose();
  }
}
