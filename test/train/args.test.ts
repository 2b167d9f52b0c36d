import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT } from '../../src/data/augment/pipeline.js';
import { UserError } from '../../src/errors.js';
import {
  augmentHyp,
  closestOption,
  defaultTrainArgs,
  parseTrainArgs,
  resolvePrecision,
  resumedArgs,
  TRAIN_OPTIONS,
  trainLoaderOptions,
} from '../../src/train/args.js';

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
}

describe('train arguments', () => {
  it("defaults are the reference's (cfg/default.yaml), augmentation ones the data layer's", () => {
    const a = defaultTrainArgs();
    expect(a).toMatchObject({
      epochs: 100, patience: 100, batch: 16, imgsz: 640, save_period: -1, cache: false, workers: 8, project: 'runs/detect', name: 'train',
      optimizer: 'auto', seed: 0, cos_lr: false, close_mosaic: 10, resume: false, amp: true, precision: null, freeze: null,
      multi_scale: false, rect: false, val: true, plots: true, lr0: 0.01, lrf: 0.01, momentum: 0.937, weight_decay: 0.0005,
      warmup_epochs: 3, warmup_momentum: 0.8, warmup_bias_lr: 0.1, box: 7.5, cls: 0.5, dfl: 1.5, nbs: 64,
      hsv_h: 0.015, hsv_s: 0.7, hsv_v: 0.4, degrees: 0, translate: 0.1, scale: 0.5, shear: 0, perspective: 0, flipud: 0, fliplr: 0.5,
      mosaic: 1, mixup: 0, cutmix: 0,
    });
    for (const k of Object.keys(DEFAULT_AUGMENT)) expect(Object.keys(TRAIN_OPTIONS)).toContain(k);
    expect(augmentHyp(a)).toEqual(DEFAULT_AUGMENT);
  });

  it('reads key=value, --key value, --key=value, --flag, --no-flag and bare boolean keys, with types coerced', () => {
    const { args, given } = parseTrainArgs([
      'model=yolov8n.yaml', '--data', 'coco8.yaml', '--epochs=3', 'lr0=5e-3', '--cos_lr', '--no-val', 'rect', '--weight-decay', '0.001',
      'freeze=[0, 1, 2]', 'cache=True', '--multi_scale', '0.25', 'optimizer=sgd', 'save_period=-1', '--plots', 'False', 'device=None',
    ]);
    expect(args).toMatchObject({
      model: 'yolov8n.yaml', data: 'coco8.yaml', epochs: 3, lr0: 0.005, cos_lr: true, val: false, rect: true, weight_decay: 0.001,
      freeze: [0, 1, 2], cache: 'ram', multi_scale: 0.25, optimizer: 'SGD', save_period: -1, plots: false, device: null,
    });
    expect([...given].sort()).toEqual(
      ['cache', 'cos_lr', 'data', 'device', 'epochs', 'freeze', 'lr0', 'model', 'multi_scale', 'optimizer', 'plots', 'rect', 'save_period', 'val', 'weight_decay'].sort(),
    );
    expect(args.batch).toBe(16);
    expect(parseTrainArgs(['--cache']).args.cache).toBe('ram');
    expect(parseTrainArgs(['cache=disk']).args.cache).toBe('disk');
    expect(parseTrainArgs(['freeze=10']).args.freeze).toBe(10);
    expect(parseTrainArgs(['--resume', 'runs/detect/train/weights/last.safetensors']).args.resume).toBe('runs/detect/train/weights/last.safetensors');
    expect(parseTrainArgs(['--resume', 'epochs=3']).args).toMatchObject({ resume: true, epochs: 3 });
    expect(parseTrainArgs(['--rect', '--epochs', '2']).args).toMatchObject({ rect: true, epochs: 2 });
  });

  it('rejects unknown options (suggesting the closest), bad values (naming what is allowed) and repeats', () => {
    expect(error(() => parseTrainArgs(['epoch=3']))).toBe("unknown option 'epoch' (did you mean 'epochs'?); run `yolo-wgpu train --help` for the options");
    expect(error(() => parseTrainArgs(['--lr', '0.1']))).toContain("(did you mean 'lr0'?)");
    expect(error(() => parseTrainArgs(['batch_size=8']))).toContain("(did you mean 'batch'?)");
    expect(error(() => parseTrainArgs(['colour=red']))).toBe("unknown option 'colour'; run `yolo-wgpu train --help` for the options");
    expect(error(() => parseTrainArgs(['fraction=0.5']))).toBe("option 'fraction' of the reference trainer is not supported by yolo-wgpu train");
    expect(error(() => parseTrainArgs(['epochs=2.5']))).toBe('epochs=2.5 is not valid: epochs must be an integer >= 1');
    expect(error(() => parseTrainArgs(['optimizer=Adam']))).toBe('optimizer=Adam is not valid: optimizer must be one of auto, SGD, AdamW');
    expect(error(() => parseTrainArgs(['fliplr=2']))).toBe('fliplr=2 is not valid: fliplr must be a number between 0 and 1');
    expect(error(() => parseTrainArgs(['rect=yes']))).toBe('rect=yes is not valid: rect must be True or False');
    expect(error(() => parseTrainArgs(['precision=bf16']))).toBe('precision=bf16 is not valid: precision must be None or one of f32, f16');
    expect(error(() => parseTrainArgs(['cache=gpu']))).toContain('cache must be False, True (= ram), ram or disk');
    expect(error(() => parseTrainArgs(['freeze=[1, x]']))).toContain('freeze must be None, a number of leading layers, or a list');
    expect(error(() => parseTrainArgs(['--epochs']))).toBe("option 'epochs' needs a value: epochs=VALUE or --epochs VALUE (epochs must be an integer >= 1)");
    expect(error(() => parseTrainArgs(['epochs=3', '--epochs', '4']))).toBe("option 'epochs' is given twice");
    expect(error(() => parseTrainArgs(['coco8.yaml']))).toBe("unexpected argument 'coco8.yaml': give options as key=value or --key value");
    expect(error(() => parseTrainArgs(['--no-epochs']))).toBe('--no-epochs: epochs must be an integer >= 1');
    expect(closestOption('warmup_epoch')).toBe('warmup_epochs');
    expect(closestOption('zzzzzz')).toBeUndefined();
  });

  it('a resumed run keeps its saved arguments; only the memory-related ones change', () => {
    const saved = { ...defaultTrainArgs(), model: 'yolov8n.yaml', data: 'coco8.yaml', epochs: 5, batch: 8 };
    const json = JSON.parse(JSON.stringify(saved));
    const cli = parseTrainArgs(['resume=runs/x/weights/last.safetensors', 'batch=4', 'workers=0']);
    const args = resumedArgs(json, cli, 'last.safetensors');
    expect(args).toEqual({ ...saved, batch: 4, workers: 0, resume: false });
    expect(error(() => resumedArgs(json, parseTrainArgs(['resume', 'epochs=9']), 'last.safetensors'))).toBe(
      'a resumed run keeps its saved arguments; only imgsz, batch, device, close_mosaic, workers can be changed (got epochs)',
    );
    expect(error(() => resumedArgs({ ...json, epochs: 0 }, cli, 'last.safetensors'))).toBe(
      'last.safetensors: saved argument epochs=0 is not valid: epochs must be an integer >= 1',
    );
    expect(error(() => resumedArgs({ ...json, shiny: 1 }, cli, 'f'))).toBe("f: saved argument 'shiny' is not an option of this version");
    // Options added after the checkpoint was written take their defaults.
    const { nbs: _nbs, ...older } = json;
    expect(resumedArgs(older, cli, 'f').nbs).toBe(64);
  });

  it('amp maps to f16 where the adapter has shader-f16; precision overrides; contradictions are errors', () => {
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    expect(resolvePrecision(parseTrainArgs([]), true, log)).toBe('f16');
    expect(resolvePrecision(parseTrainArgs([]), false, log)).toBe('f32');
    expect(lines).toEqual(['AMP: this adapter lacks shader-f16, training in f32']);
    expect(resolvePrecision(parseTrainArgs(['amp=False']), true, log)).toBe('f32');
    expect(resolvePrecision(parseTrainArgs(['precision=f32']), true, log)).toBe('f32');
    expect(resolvePrecision(parseTrainArgs(['precision=f16', 'amp=True']), true, log)).toBe('f16');
    expect(error(() => resolvePrecision(parseTrainArgs(['precision=f16']), false, log))).toBe(
      'precision=f16 needs the shader-f16 feature, which this adapter lacks; use precision=f32',
    );
    expect(error(() => resolvePrecision(parseTrainArgs(['precision=f16', 'amp=False']), true, log))).toBe('amp=False contradicts precision=f16; give one of them');
  });

  it('maps onto the training loader options', () => {
    const { args } = parseTrainArgs(['imgsz=320', 'batch=8', 'mosaic=0.5', 'close_mosaic=2', 'multi_scale', 'workers=0', 'seed=7', 'epochs=4', 'cache=disk']);
    expect(trainLoaderOptions(args, 32)).toEqual({
      imgsz: 320, batch: 8, stride: 32, augment: true, hyp: { ...DEFAULT_AUGMENT, mosaic: 0.5 }, rect: false, seed: 7, epochs: 4,
      closeMosaic: 2, multiScale: true, workers: 0, cache: 'disk',
    });
  });
});
