import type { Command } from 'commander';
import { UserError } from '../errors.js';

/** Parses argv and runs the chosen command; person-facing errors exit 1 without a stack trace. */
export async function runCli(program: Command, argv: string[] = process.argv): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`yolo-wgpu: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
