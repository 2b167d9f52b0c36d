/**
 * Errors meant for a person: the CLI prints `message` alone (no stack trace).
 * Every layer throws a subclass of this for bad input or unmet conditions;
 * anything else reaching the CLI is a bug and is printed with its stack.
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
