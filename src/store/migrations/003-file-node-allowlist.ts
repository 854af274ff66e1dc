/**
 * Per-account allowlist of node types whose file inputs Arrakis passes to ComfyUI unchecked (docs/security.md:
 * dangerous, off by default). A JSON list of class names; existing accounts get none.
 * Append-only: never edit once landed; add 004-... instead.
 */
import type { Migration } from './migration.js';

const statements = [`ALTER TABLE accounts ADD COLUMN file_node_allowlist TEXT NOT NULL DEFAULT '[]'`];

export const migration003: Migration = {
  id: 3,
  name: 'file-node-allowlist',
  sqlite: statements,
  postgres: statements,
};
