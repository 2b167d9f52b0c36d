import type { Command } from 'commander';
export function registerInfoCommand(program: Command): void {
  void program;
}
