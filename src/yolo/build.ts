/**
 * The model builder: Ultralytics' parse_model for the detection modules, from model yaml to a
 * DetectionModel with PyTorch's state-dict names (`model.2.cv1.conv.weight`, ...).
 */
import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { Conv2d } from '../nn/conv2d.js';
import type { Module } from '../nn/module.js';
import { Sequential, type Block } from '../nn/sequential.js';
import { DetectionModel, type Layer } from './detection-model.js';
import { loadModelYaml, scaleOf, type ModelYaml } from './model-yaml.js';
import { Bottleneck } from './modules/bottleneck.js';
import { C2f, C3k2 } from './modules/c2f.js';
import { C3, C3k } from './modules/c3.js';
import { Conv, DWConv } from './modules/conv.js';
import { Detect } from './modules/detect.js';
import { C2PSA } from './modules/psa.js';
import { Concat, Upsample } from './modules/resample.js';
import { SPPF, type SppfVariant } from './modules/sppf.js';

export interface BuildOptions {
  /** Number of classes (overrides the yaml's nc). */
  nc?: number;
  /** SPPF flavour: '8.4' (default, as the fixtures) or '8.3' (SiLU after cv1). */
  sppf?: SppfVariant;
  names?: string[];
  /** Seed of the default initialization. */
  seed?: number;
  /** false: leave the parameters zero (weights are loaded next). Meta engines never initialize. */
  init?: boolean;
}

/** Builds `yolov8n.yaml`, `yolo11s`, ... or a model yaml file. */
export function buildModel(engine: Engine, spec: string, o: BuildOptions = {}): DetectionModel {
  return buildFromYaml(engine, loadModelYaml(spec), spec, o);
}

/** Python's round (half to even), as parse_model's repeat scaling uses. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const makeDivisible = (x: number, divisor: number) => Math.ceil(x / divisor) * divisor;

/** Modules whose repeats go into the module (as its n) instead of stacking copies. */
const REPEAT_MODULES = new Set(['C2f', 'C3', 'C3k', 'C3k2', 'C2PSA']);
const CHANNEL_MODULES = new Set(['Conv', 'DWConv', 'Bottleneck', 'SPPF', ...REPEAT_MODULES]);

export function buildFromYaml(engine: Engine, source: ModelYaml, file: string, o: BuildOptions = {}): DetectionModel {
  const yaml: ModelYaml = { ...source, nc: o.nc ?? source.nc };
  const { scale, depth, width, maxChannels } = scaleOf(yaml, file);
  yaml.scale = scale;
  const nc = yaml.nc;
  const sppf = o.sppf ?? '8.4';
  const channels: number[] = [];
  const inChannels = (f: number) => (f < 0 ? 3 : channels[f]);
  let legacy = true;
  const rows = [...yaml.backbone, ...yaml.head];
  const layers: Layer[] = rows.map(([fromRaw, repeatsRaw, type, rawArgs], index) => {
    const where = `${file}: layer ${index} (${type})`;
    const from = (Array.isArray(fromRaw) ? fromRaw : [fromRaw]).map((f) => (f < 0 ? index + f : f));
    if (from.some((f) => f >= index || f < -1)) throw new UserError(`${where}: 'from' ${JSON.stringify(fromRaw)} must point at earlier layers`);
    const args = rawArgs.map((a) => (a === 'nc' ? nc : a === 'None' ? null : a));
    const scaledRepeats = repeatsRaw > 1 ? Math.max(pyRound(repeatsRaw * depth), 1) : repeatsRaw;
    let repeats = scaledRepeats;
    let c2: number;
    let resolved: unknown[];
    if (CHANNEL_MODULES.has(type)) {
      const c1 = inChannels(from[0]);
      c2 = num(args[0], where, 'output channels');
      if (c2 !== nc) c2 = makeDivisible(Math.min(c2, maxChannels) * width, 8);
      resolved = [c1, c2, ...args.slice(1)];
      if (REPEAT_MODULES.has(type)) {
        resolved.splice(2, 0, repeats);
        repeats = 1;
      }
      if (type === 'C3k2') {
        legacy = false;
        if (scale && 'mlx'.includes(scale)) resolved[3] = true;
      }
    } else if (type === 'nn.Upsample') {
      c2 = inChannels(from[0]);
      resolved = args;
    } else if (type === 'Concat') {
      c2 = from.reduce((s, f) => s + inChannels(f), 0);
      resolved = args;
    } else if (type === 'Detect') {
      c2 = 0;
      resolved = [...args, from.map(inChannels)];
    } else {
      throw new UserError(`${where}: unsupported module (supported: Conv, DWConv, Bottleneck, C2f, C3, C3k, C3k2, SPPF, C2PSA, nn.Upsample, Concat, Detect)`);
    }
    channels.push(c2);
    const make = () => makeModule(engine, type, resolved, { where, legacy, sppf });
    const module = repeats > 1 ? new Sequential(engine, Array.from({ length: repeats }, () => make() as Block)) : make();
    return { index, from, fromSpec: fromRaw, repeats: scaledRepeats, type, args: resolved, channels: c2, module };
  });
  const model = new DetectionModel(engine, layers, yaml, sppf);
  model.names = o.names;
  if (o.init !== false && !engine.isMeta) initializeWeights(model, o.seed ?? 0);
  return model;
}

function num(v: unknown, where: string, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${where}: ${what} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, dflt: boolean): boolean {
  return v === undefined || v === null ? dflt : Boolean(v);
}

/** Constructs one module from its resolved arguments (the reference's constructor signatures). */
function makeModule(engine: Engine, type: string, a: unknown[], c: { where: string; legacy: boolean; sppf: SppfVariant }): Module {
  const n = (i: number, dflt: number) => (a[i] === undefined || a[i] === null ? dflt : num(a[i], c.where, `argument ${i}`));
  const [c1, c2] = CHANNEL_MODULES.has(type) ? [n(0, 0), n(1, 0)] : [0, 0];
  switch (type) {
    case 'Conv':
      if (n(6, 1) !== 1) throw new UserError(`${c.where}: dilated convolutions are not supported`);
      return new Conv(engine, c1, c2, { k: n(2, 1), s: n(3, 1), p: a[4] == null ? undefined : n(4, 0), g: n(5, 1), act: bool(a[7], true) });
    case 'DWConv':
      if (n(4, 1) !== 1) throw new UserError(`${c.where}: dilated convolutions are not supported`);
      return new DWConv(engine, c1, c2, { k: n(2, 1), s: n(3, 1), act: bool(a[5], true) });
    case 'Bottleneck':
      return new Bottleneck(engine, c1, c2, { shortcut: bool(a[2], true), g: n(3, 1), e: n(5, 0.5) });
    case 'C2f':
      return new C2f(engine, c1, c2, n(2, 1), { shortcut: bool(a[3], false), g: n(4, 1), e: n(5, 0.5) });
    case 'C3':
      return new C3(engine, c1, c2, n(2, 1), { shortcut: bool(a[3], true), g: n(4, 1), e: n(5, 0.5) });
    case 'C3k':
      return new C3k(engine, c1, c2, n(2, 1), { shortcut: bool(a[3], true), g: n(4, 1), e: n(5, 0.5), k: n(6, 3) });
    case 'C3k2':
      if (a[5]) throw new UserError(`${c.where}: C3k2 with attention is not supported`);
      return new C3k2(engine, c1, c2, n(2, 1), { c3k: bool(a[3], false), e: n(4, 0.5), g: n(6, 1), shortcut: bool(a[7], true) });
    case 'SPPF':
      if (n(3, 3) !== 3 || bool(a[4], false)) throw new UserError(`${c.where}: only SPPF with 3 pools and no shortcut is supported`);
      return new SPPF(engine, c1, c2, n(2, 5), c.sppf);
    case 'C2PSA':
      return new C2PSA(engine, c1, c2, n(2, 1), n(3, 0.5));
    case 'nn.Upsample':
      if ((a[2] ?? 'nearest') !== 'nearest' || !Number.isInteger(a[1])) throw new UserError(`${c.where}: only nearest upsampling by an integer factor is supported, got ${JSON.stringify(a)}`);
      return new Upsample(engine, a[1] as number);
    case 'Concat':
      if ((a[0] ?? 1) !== 1) throw new UserError(`${c.where}: only channel concatenation (dimension 1) is supported`);
      return new Concat(engine);
    case 'Detect':
      return new Detect(engine, n(0, 80), a[a.length - 1] as number[], c.legacy);
  }
  throw new Error(`unreachable: ${type}`);
}

/**
 * The reference's initialization: PyTorch's default for convolutions (uniform +-1/sqrt(fan_in),
 * seeded per layer for reproducibility), BatchNorm 1/0 (already so), then Detect's bias_init.
 */
export function initializeWeights(model: DetectionModel, seed: number): void {
  model.namedModules().forEach(([, m], i) => {
    if (m instanceof Conv2d && m.weight.requiresGrad) m.resetParameters(seed * 100003 + i + 1);
  });
  model.detect.initBiases(model.stride);
}
