/**
 * Templates owned by one account: `account_id` NULL is a global template every account sees (all templates
 * before this migration), otherwise only that account sees and runs it. Names stay unique across accounts.
 * Append-only: never edit once landed; add a later migration instead.
 */
import type { Migration } from './migration.js';

const statements = [`ALTER TABLE templates ADD COLUMN account_id TEXT`];

export const migration005: Migration = {
  id: 5,
  name: 'template-owner',
  sqlite: statements,
  postgres: statements,
};
