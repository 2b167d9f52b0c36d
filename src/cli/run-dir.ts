import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/**
 * Creates `project/name`, or `name2`, `name3`, ... when taken (the reference's increment_path), and
 * returns it. The folder is claimed by creating it, so two commands started at once never share one.
 */
export function claimRunDir(project: string, name: string): string {
  // checked first: mkdirSync reports an existing file as EEXIST, which below means "taken, try the next"
  if (existsSync(project) && !statSync(project).isDirectory()) throw new UserError(`the output folder ${project} is a file`);
  try {
    mkdirSync(project, { recursive: true });
  } catch (e) {
    throw new UserError(`cannot create the output folder ${project} (${(e as Error).message})`, { cause: e });
  }
  for (let n = 1; ; n++) {
    const dir = join(project, n === 1 ? name : `${name}${n}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`cannot create the output folder ${dir} (${(e as Error).message})`, { cause: e });
    }
  }
}
