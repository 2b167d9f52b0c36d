import type { Command } from 'commander';
import { Engine } from '../gpu/engine.js';
import { formatBytes, printJson, table } from './format.js';
import { printModelInfo } from './model-info.js';

export interface InfoOptions {
  json?: boolean;
  device?: string;
  model?: string;
}

/** What the engine knows about the adapter: identity, features, subgroup-matrix configs, limits. */
export async function runInfo(options: InfoOptions): Promise<void> {
  if (options.model) return printModelInfo(options.model, options);
  const engine = await Engine.open({ device: options.device });
  try {
    const gpu = engine.gpu!;
    const report = { adapter: gpu.adapter, features: gpu.features, limits: gpu.limits };
    if (options.json) {
      printJson(report);
      return;
    }
    const a = gpu.adapter;
    const f = gpu.features;
    const lines = [
      `adapter      ${a.description || a.device} (${a.vendor}${a.architecture ? `, ${a.architecture}` : ''})`,
      `backend      ${a.backend}${a.isFallbackAdapter ? ' (fallback adapter)' : ''}`,
      `shader-f16   ${f.shaderF16 ? 'yes' : 'no'}`,
      `subgroups    ${f.subgroups ? `yes (${gpu.limits.subgroupMinSize}..${gpu.limits.subgroupMaxSize})` : 'no'}`,
      `timestamps   ${f.timestampQuery ? 'yes' : 'no'}`,
      `subgroup-matrix ${f.subgroupMatrix ? 'yes' : 'no'}`,
    ];
    if (f.subgroupMatrixConfigs.length > 0) {
      lines.push(
        table(
          ['  component', 'result', 'M', 'N', 'K'],
          f.subgroupMatrixConfigs.map((c) => [`  ${c.componentType}`, c.resultComponentType, c.M, c.N, c.K]),
        ),
      );
    }
    const l = gpu.limits;
    lines.push(
      '',
      table(
        ['limit', 'value'],
        [
          ['max storage binding', formatBytes(l.maxStorageBufferBindingSize)],
          ['max buffer', formatBytes(l.maxBufferSize)],
          ['workgroup storage', formatBytes(l.maxComputeWorkgroupStorageSize)],
          ['invocations per workgroup', l.maxComputeInvocationsPerWorkgroup],
          ['workgroups per dimension', l.maxComputeWorkgroupsPerDimension],
          ['storage buffers per stage', l.maxStorageBuffersPerShaderStage],
        ],
      ),
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    engine.destroy();
  }
}

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('show the GPU adapter: identity, backend, features, subgroup-matrix configs and limits; or a model\'s layers (--model)')
    .option('--json', 'print a JSON document only')
    .option('--device <name>', 'adapter name (default: $YOLO_WGPU_DEVICE, else the high-performance adapter)')
    .option('--model <yaml>', 'print a model\'s layer table and totals instead (yolov8n.yaml, yolo11s.yaml, or a model yaml file)')
    .action(runInfo);
}
