import type { Command } from 'commander';
export function registerBenchCommand(program: Command): void {
  void program;
}
