import { fileURLToPath } from 'node:url';

/** The shared/ folder beside the checkout (fixtures and datasets), wherever the checkout is. */
export const SHARED = fileURLToPath(new URL('../../../shared', import.meta.url));
export const FIXTURES = `${SHARED}/fixtures`;
