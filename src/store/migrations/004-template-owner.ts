/**
 * Templates owned by one account: `account_id` NULL is a global template every account sees (all templates
 * before this migration), otherwise only that account sees and runs it. Names stay unique across accounts.
 * Append-only: never edit once landed; add 005-... instead.
 */
import type { Migration } from './migration.js';

const statements = [`ALTER TABLE templates ADD COLUMN account_id TEXT`];

export const migration004: Migration = {
  id: 4,
  name: 'template-owner',
  sqlite: statements,
  postgres: statements,
};
