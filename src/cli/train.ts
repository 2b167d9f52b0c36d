import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { parseTrainArgs, resumedArgs, TRAIN_OPTIONS, type ParsedTrainArgs } from '../train/args.js';
import { latestLastCheckpoint } from '../train/run-dir.js';
import { readTrainCheckpoint, type TrainCheckpoint } from '../train/train-checkpoint.js';
import { isModelYaml } from '../train/train-model.js';
import { train, type TrainOptions, type TrainResult } from '../train/trainer.js';
import { printJson } from './format.js';

/** The checkpoint `resume` names: a path, or (True) `model=` when it is a checkpoint, else the newest run's last. */
function resumeCheckpoint(p: ParsedTrainArgs): TrainCheckpoint {
  const { resume, model, project } = p.args;
  let path: string | null;
  if (typeof resume === 'string') path = resume;
  else if (model && !isModelYaml(model)) path = model;
  else {
    path = latestLastCheckpoint(project);
    if (!path) throw new UserError(`resume=True: no weights/last checkpoint under ${project}; give resume=PATH (a run's weights/last.safetensors)`);
  }
  return readTrainCheckpoint(path);
}

/** `train` with the words after it (`key=value` or `--key value`); resume continues a run with its saved arguments. */
export async function runTrain(argv: readonly string[], o: Omit<TrainOptions, 'resume'> = {}): Promise<TrainResult> {
  const parsed = parseTrainArgs(argv);
  if (parsed.args.resume === false) return train(parsed, o);
  const ckpt = resumeCheckpoint(parsed);
  const args = resumedArgs(ckpt.state.args, parsed, ckpt.file);
  return train({ args, given: parsed.given }, { ...o, resume: ckpt });
}

/** A default as the reference's yaml spells it: None, True, False, numbers and text as they are. */
function pyText(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

function helpText(): string {
  const rows = Object.entries(TRAIN_OPTIONS).map(([k, s]) => `  ${`${k}=${pyText(s.default)}`.padEnd(28)} ${s.help}`);
  return [
    'Usage: yolo-wgpu train key=value ... (or --key value)',
    '',
    'Trains a detection model as the Ultralytics trainer does, e.g.',
    '  yolo-wgpu train model=yolov8n.yaml data=coco8.yaml epochs=3 imgsz=320',
    '  yolo-wgpu train --resume runs/detect/train/weights/last.safetensors',
    '',
    'Options (defaults):',
    ...rows,
    '  --json                       print the run summary as JSON on stdout (logs go to stderr)',
    '',
  ].join('\n');
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a detection model (Ultralytics options: model=yolov8n.yaml data=coco8.yaml epochs=3 ...)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[options...]', 'key=value or --key value pairs; `yolo-wgpu train --help` lists them')
    .action(async (words: string[]) => {
      if (words.includes('--help') || words.includes('-h')) {
        process.stdout.write(helpText());
        return;
      }
      const json = words.includes('--json');
      const r = await runTrain(words.filter((w) => w !== '--json'));
      if (json) printJson(r);
      else process.stdout.write(`Results saved to ${r.dir}\n`);
    });
}
