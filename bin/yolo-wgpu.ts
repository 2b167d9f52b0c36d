#!/usr/bin/env node
import { Command } from 'commander';
import { registerInfoCommand } from '../src/cli/info.js';
import { registerBenchCommand } from '../src/cli/bench.js';
import { registerDatasetCommand } from '../src/cli/dataset.js';
import { registerExportCommand } from '../src/cli/export.js';
import { registerPredictCommand } from '../src/cli/predict.js';
import { registerTrainCommand } from '../src/cli/train.js';
import { registerValCommand } from '../src/cli/val.js';
import { runCli } from '../src/cli/run.js';

const program = new Command();
program
  .name('yolo-wgpu')
  .description('WebGPU YOLO trainer with exact GPU memory accounting')
  .version('0.1.0')
  .showHelpAfterError()
  .enablePositionalOptions();

registerInfoCommand(program);
registerBenchCommand(program);
registerDatasetCommand(program);
registerPredictCommand(program);
registerValCommand(program);
registerTrainCommand(program);
registerExportCommand(program);

await runCli(program);
