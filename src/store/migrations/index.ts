/** Every migration in order. Append-only: add the next number at the end. */
import { migration001 } from './001-initial.js';
import type { Migration } from './migration.js';

export const MIGRATIONS: readonly Migration[] = [migration001];
