/**
 * The `train` command's arguments: the reference's names and defaults (`cfg/default.yaml`), given
 * as `key=value` (the reference's form), `--key value`, `--key=value`, `--flag` / `--no-flag` for
 * booleans, or a bare boolean key (`rect` means rect=True). Dashes in keys read as underscores.
 * Unknown keys, values of the wrong type and repeated keys are UserErrors naming the option and
 * what it takes (with the closest option name for a typo).
 */
import { UserError } from '../errors.js';
import type { LoaderOptions } from '../data/loader.js';
import { DEFAULT_AUGMENT, type AugmentHyp } from '../data/augment/pipeline.js';
import { bool, choice, float, fraction, int, nullable, parseText, text, type OptionType } from './option-types.js';

export interface OptionSpec<T> {
  type: OptionType<T>;
  default: T;
  help: string;
}

const opt = <T>(type: OptionType<T>, def: T, help: string): OptionSpec<T> => ({ type, default: def, help });

const AUGMENT_HELP: Record<keyof AugmentHyp, string> = {
  hsv_h: 'HSV hue augmentation (fraction)',
  hsv_s: 'HSV saturation augmentation (fraction)',
  hsv_v: 'HSV value augmentation (fraction)',
  degrees: 'rotation (+/- degrees)',
  translate: 'translation (+/- fraction)',
  scale: 'scale gain (+/- fraction)',
  shear: 'shear (+/- degrees)',
  perspective: 'perspective (+/- fraction, 0-0.001)',
  flipud: 'probability of a vertical flip',
  fliplr: 'probability of a horizontal flip',
  mosaic: 'probability of a mosaic',
  mixup: 'probability of a mixup',
  cutmix: 'probability of a cutmix',
};

/** Angles are any number; every other augmentation option is a fraction, as the reference checks them. */
const ANGLE_KEYS: ReadonlySet<string> = new Set(['degrees', 'shear']);

/** The data layer's augmentation options, with its defaults (the reference's). */
const AUGMENT_OPTIONS = Object.fromEntries(
  (Object.keys(DEFAULT_AUGMENT) as (keyof AugmentHyp)[]).map((k) => [k, opt(ANGLE_KEYS.has(k) ? float() : fraction, DEFAULT_AUGMENT[k], AUGMENT_HELP[k])]),
) as Record<keyof AugmentHyp, OptionSpec<number>>;

const cache: OptionType<false | 'ram' | 'disk'> = {
  allowed: 'False, True (= ram), ram or disk',
  flagValue: 'ram',
  check: (v) => (v === false ? false : v === true || v === 'ram' ? 'ram' : v === 'disk' ? 'disk' : undefined),
};

/** 8.3's bool, or 8.4's range: sizes imgsz * [1 - r, 1 + r]. */
const multiScale: OptionType<boolean | number> = {
  allowed: 'True, False or a fraction r in [0, 1) (sizes imgsz * (1 +/- r))',
  flagValue: true,
  check: (v) => (typeof v === 'boolean' ? v : typeof v === 'number' && v >= 0 && v < 1 ? v : undefined),
};

/** None, the first N layers, or a list of layer indices. */
const freeze: OptionType<number | number[] | null> = {
  allowed: 'None, a number of leading layers, or a list of layer indices like [0, 1, 2]',
  check: (v) => {
    const index = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (v === null || index(v)) return v as number | null;
    return Array.isArray(v) && v.every(index) ? (v as number[]) : undefined;
  },
};

/** False, True (the newest run's last checkpoint, or `model`'s) or a checkpoint path. */
const resume: OptionType<boolean | string> = {
  allowed: 'False, True or the path of a last checkpoint',
  flagValue: true,
  check: (v) => (typeof v === 'boolean' || (typeof v === 'string' && v !== '') ? v : undefined),
};

/** Every option of `train`, in the reference's order (also the order of args.yaml). */
export const TRAIN_OPTIONS = {
  model: opt(nullable(text), null, 'model yaml to train from scratch (yolov8n.yaml), or weights to fine-tune (.pt or ours)'),
  data: opt(nullable(text), null, 'dataset yaml'),
  epochs: opt(int({ min: 1 }), 100, 'epochs to train'),
  patience: opt(int({ min: 0 }), 100, 'epochs without fitness improvement before stopping early (0: never)'),
  batch: opt(int({ min: 1 }), 16, 'images per batch'),
  imgsz: opt(int({ min: 1 }), 640, 'training image size (rounded up to a multiple of the stride)'),
  save_period: opt(int(), -1, 'also keep weights/epoch{N} every N epochs (< 1: off)'),
  cache: opt(cache, false, 'image cache: ram, disk or False'),
  device: opt(nullable(text), null, 'adapter name (default: the high-performance one)'),
  workers: opt(int({ min: 0 }), 8, 'loader worker threads (0: load in this thread)'),
  project: opt(text, 'runs/detect', 'folder of the runs'),
  name: opt(text, 'train', 'run folder name (name2, name3, ... when taken)'),
  optimizer: opt(choice(['auto', 'SGD', 'AdamW'] as const), 'auto', "optimizer; auto picks by the reference's rule"),
  seed: opt(int(), 0, 'random seed (data order and augmentation)'),
  cos_lr: opt(bool, false, 'cosine learning-rate schedule'),
  close_mosaic: opt(int({ min: 0 }), 10, 'turn mosaic off for the last N epochs'),
  resume: opt(resume, false, 'continue the run of this last checkpoint (True: the newest run, or model=)'),
  amp: opt(bool, true, 'mixed precision: f16 where the adapter has shader-f16'),
  precision: opt(nullable(choice(['f32', 'f16'] as const)), null, 'f32 or f16 activations (default: from amp)'),
  conv_variants: opt(nullable(text), null, 'convolution kernels by shape for this GPU, a table from yolo-wgpu bench tune at the same batch and imgsz'),
  freeze: opt(freeze, null, 'freeze the first N layers, or the listed layers'),
  multi_scale: opt(multiScale, false, 'vary the image size per batch'),
  rect: opt(bool, false, 'rectangular batches (mosaic and shuffle off)'),
  val: opt(bool, true, 'validate every epoch (else only at the end)'),
  plots: opt(bool, true, 'write plots'),
  lr0: opt(fraction, 0.01, 'initial learning rate'),
  lrf: opt(fraction, 0.01, 'final learning rate as a fraction of lr0'),
  momentum: opt(fraction, 0.937, 'SGD momentum / Adam beta1'),
  weight_decay: opt(fraction, 0.0005, 'weight decay (scaled by batch * accumulate / nbs)'),
  warmup_epochs: opt(float({ min: 0 }), 3.0, 'warmup epochs (at least 100 iterations)'),
  warmup_momentum: opt(fraction, 0.8, 'initial momentum during warmup'),
  warmup_bias_lr: opt(fraction, 0.1, 'initial bias learning rate during warmup'),
  box: opt(float({ min: 0 }), 7.5, 'box loss gain'),
  cls: opt(float({ min: 0 }), 0.5, 'classification loss gain'),
  dfl: opt(float({ min: 0 }), 1.5, 'distribution focal loss gain'),
  nbs: opt(int({ min: 1 }), 64, 'nominal batch size: gradients accumulate up to it'),
  ...AUGMENT_OPTIONS,
};

export type TrainOption = keyof typeof TRAIN_OPTIONS;
export type TrainArgs = { [K in TrainOption]: (typeof TRAIN_OPTIONS)[K] extends OptionSpec<infer T> ? T : never };

/** Reference options this trainer does not have, so that they get a clearer message than "unknown". */
const NOT_SUPPORTED = new Set(['time', 'save', 'exist_ok', 'pretrained', 'verbose', 'deterministic', 'single_cls', 'fraction', 'profile', 'dropout', 'bgr', 'copy_paste', 'copy_paste_mode', 'auto_augment', 'erasing', 'compile']);

/** Options a resumed run may change (the reference's "to reduce memory" list, plus workers, which never changes results). */
export const RESUME_OVERRIDES: readonly TrainOption[] = ['imgsz', 'batch', 'device', 'close_mosaic', 'workers'];

export function defaultTrainArgs(): TrainArgs {
  return Object.fromEntries(Object.entries(TRAIN_OPTIONS).map(([k, s]) => [k, structuredClone(s.default)])) as TrainArgs;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** The option a mistyped key most likely meant, if one is close. */
export function closestOption(key: string): TrainOption | undefined {
  let best: TrainOption | undefined;
  let bestDistance = Infinity;
  for (const name of Object.keys(TRAIN_OPTIONS) as TrainOption[]) {
    const d = key.startsWith(name) || name.startsWith(key) ? 1 : editDistance(key, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

const typeOf = (key: TrainOption) => TRAIN_OPTIONS[key].type as OptionType<unknown>;

function optionNamed(key: string): TrainOption {
  if (Object.prototype.hasOwnProperty.call(TRAIN_OPTIONS, key)) return key as TrainOption;
  if (NOT_SUPPORTED.has(key)) throw new UserError(`option '${key}' of the reference trainer is not supported by yolo-wgpu train`);
  const near = closestOption(key);
  throw new UserError(`unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; run \`yolo-wgpu train --help\` for the options`);
}

function parseValue(key: TrainOption, value: string): unknown {
  const v = parseText(typeOf(key), value);
  if (v === undefined) throw new UserError(`${key}=${value} is not valid: ${key} must be ${typeOf(key).allowed}`);
  return v;
}

export interface ParsedTrainArgs {
  args: TrainArgs;
  /** Options given on the command line (the rest are defaults). */
  given: ReadonlySet<TrainOption>;
}

/** Parses the command line (the words after `train`) over the defaults. */
export function parseTrainArgs(argv: readonly string[]): ParsedTrainArgs {
  const args = defaultTrainArgs() as Record<TrainOption, unknown>;
  const given = new Set<TrainOption>();
  const set = (rawKey: string, value: string | null) => {
    const key = optionNamed(rawKey.replace(/-/g, '_'));
    if (given.has(key)) throw new UserError(`option '${key}' is given twice`);
    given.add(key);
    const flag = typeOf(key).flagValue;
    if (value !== null) args[key] = parseValue(key, value);
    else if (flag !== undefined) args[key] = flag;
    else throw new UserError(`option '${key}' needs a value: ${key}=VALUE or --${key} VALUE (${key} must be ${typeOf(key).allowed})`);
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    const eq = word.indexOf('=');
    if (word.startsWith('--')) {
      const body = word.slice(2);
      if (eq >= 0) {
        set(body.slice(0, eq - 2), word.slice(eq + 1));
        continue;
      }
      const negated = body.startsWith('no-') && !Object.prototype.hasOwnProperty.call(TRAIN_OPTIONS, body.replace(/-/g, '_'));
      if (negated) {
        const key = optionNamed(body.slice(3).replace(/-/g, '_'));
        if (typeOf(key).check(false) !== false) throw new UserError(`--no-${key}: ${key} must be ${typeOf(key).allowed}`);
        set(key, 'False');
        continue;
      }
      const next = argv[i + 1];
      const key = optionNamed(body.replace(/-/g, '_'));
      const takesNext =
        next !== undefined &&
        !next.startsWith('--') &&
        (typeOf(key).flagValue === undefined || (!next.includes('=') && parseText(typeOf(key), next) !== undefined));
      set(key, takesNext ? next : null);
      if (takesNext) i++;
    } else if (eq > 0) {
      set(word.slice(0, eq), word.slice(eq + 1));
    } else if (Object.prototype.hasOwnProperty.call(TRAIN_OPTIONS, word) && typeOf(word as TrainOption).flagValue !== undefined) {
      set(word, null);
    } else {
      throw new UserError(`unexpected argument '${word}': give options as key=value or --key value`);
    }
  }
  return { args: args as TrainArgs, given };
}

/**
 * The arguments a resumed run continues with: the saved ones (checked as if typed again; options
 * added since take their defaults), with only RESUME_OVERRIDES taken from the command line.
 */
export function resumedArgs(saved: unknown, cli: ParsedTrainArgs, source: string): TrainArgs {
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) throw new UserError(`${source}: the checkpoint holds no training arguments`);
  const args = defaultTrainArgs() as Record<TrainOption, unknown>;
  for (const [key, value] of Object.entries(saved)) {
    if (!Object.prototype.hasOwnProperty.call(TRAIN_OPTIONS, key)) throw new UserError(`${source}: saved argument '${key}' is not an option of this version`);
    const type = typeOf(key as TrainOption);
    const checked = type.check(value);
    if (checked === undefined) throw new UserError(`${source}: saved argument ${key}=${JSON.stringify(value)} is not valid: ${key} must be ${type.allowed}`);
    args[key as TrainOption] = checked;
  }
  const ignored = [...cli.given].filter((k) => k !== 'resume' && k !== 'model' && !RESUME_OVERRIDES.includes(k));
  if (ignored.length > 0) {
    throw new UserError(`a resumed run keeps its saved arguments; only ${RESUME_OVERRIDES.join(', ')} can be changed (got ${ignored.join(', ')})`);
  }
  for (const k of RESUME_OVERRIDES) if (cli.given.has(k)) args[k] = cli.args[k];
  args.resume = false;
  return args as TrainArgs;
}

/**
 * The f16/f32 choice: `precision` when given (f16 needs shader-f16), else `amp` — f16 where the
 * adapter has shader-f16, as the reference keeps AMP wherever it works.
 */
export function resolvePrecision(p: ParsedTrainArgs, shaderF16: boolean, log: (line: string) => void): 'f32' | 'f16' {
  const { precision, amp } = p.args;
  if (precision !== null) {
    if (p.given.has('amp') && amp !== (precision === 'f16')) throw new UserError(`amp=${amp ? 'True' : 'False'} contradicts precision=${precision}; give one of them`);
    if (precision === 'f16' && !shaderF16) throw new UserError('precision=f16 needs the shader-f16 feature, which this adapter lacks; use precision=f32');
    return precision;
  }
  if (!amp) return 'f32';
  if (shaderF16) return 'f16';
  log('AMP: this adapter lacks shader-f16, training in f32');
  return 'f32';
}

/** The data layer's augmentation settings from the arguments. */
export function augmentHyp(args: TrainArgs): AugmentHyp {
  return Object.fromEntries(Object.keys(DEFAULT_AUGMENT).map((k) => [k, args[k as keyof AugmentHyp]])) as unknown as AugmentHyp;
}

/** The training loader's options from the arguments (the model gives the stride). */
export function trainLoaderOptions(args: TrainArgs, stride: number): LoaderOptions {
  return {
    imgsz: args.imgsz,
    batch: args.batch,
    stride,
    augment: true,
    hyp: augmentHyp(args),
    rect: args.rect,
    seed: args.seed,
    epochs: args.epochs,
    closeMosaic: args.close_mosaic,
    multiScale: args.multi_scale,
    workers: args.workers,
    cache: args.cache,
  };
}
