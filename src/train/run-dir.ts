/**
 * A training run's folder, as the reference lays it out: `project/name` (`name2`, `name3`, ...
 * when taken), holding args.yaml, results.csv, the plots, and weights/last, weights/best and
 * weights/epoch{N} (our checkpoint format, `.safetensors`).
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import YAML from 'yaml';
import { claimRunDir } from '../cli/run-dir.js';
import { writeFileAtomic } from '../io/safetensors.js';
import type { TrainArgs } from './args.js';

const CHECKPOINT_EXT = '.safetensors';

export interface RunPaths {
  dir: string;
  weights: string;
  last: string;
  best: string;
  args: string;
  results: string;
  resultsPlot: string;
  labelsPlot: string;
}

export function runPaths(dir: string): RunPaths {
  const weights = join(dir, 'weights');
  return {
    dir,
    weights,
    last: join(weights, `last${CHECKPOINT_EXT}`),
    best: join(weights, `best${CHECKPOINT_EXT}`),
    args: join(dir, 'args.yaml'),
    results: join(dir, 'results.csv'),
    resultsPlot: join(dir, 'results.png'),
    labelsPlot: join(dir, 'labels.png'),
  };
}

/** The numbered copy save_period keeps (`epoch` 0-based, as the reference names them). */
export function epochCheckpointPath(paths: RunPaths, epoch: number): string {
  return join(paths.weights, `epoch${epoch}${CHECKPOINT_EXT}`);
}

/** Creates `project/name`, or `name2`, `name3`, ... when taken (claimed atomically by claimRunDir), with its weights folder. */
export function createRunDir(project: string, name: string): RunPaths {
  // A name with folders (name=exp/a) numbers its last part, in the folders it names.
  const paths = runPaths(claimRunDir(join(project, dirname(name)), basename(name)));
  mkdirSync(paths.weights);
  return paths;
}

/** args.yaml: every argument of the run, in option order. */
export function writeArgsYaml(paths: RunPaths, args: TrainArgs): void {
  writeFileAtomic(paths.args, [Buffer.from(YAML.stringify(args))]);
}

/** The newest `weights/last` checkpoint under `project` (resume=True), or null. */
export function latestLastCheckpoint(project: string): string | null {
  let best: { path: string; mtime: number } | null = null;
  const visit = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (name === `last${CHECKPOINT_EXT}` && dir.endsWith('weights')) {
        const mtime = statSync(path).mtimeMs;
        if (!best || mtime > best.mtime) best = { path, mtime };
      } else if (depth < 4 && statSync(path, { throwIfNoEntry: false })?.isDirectory()) visit(path, depth + 1);
    }
  };
  visit(project, 0);
  return (best as { path: string } | null)?.path ?? null;
}
