/**
 * The initial schema. Types are chosen so one text serves both databases: BIGINT holds epoch ms and
 * counters (INTEGER affinity on SQLite), booleans are INTEGER 0/1, JSON is TEXT.
 * Append-only: never edit a migration that has landed; add 002-... instead.
 */
import type { Migration } from './migration.js';

const shared = [
  `CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    max_active_jobs_per_user BIGINT NOT NULL,
    max_active_jobs BIGINT NOT NULL,
    submit_rate_per_user DOUBLE PRECISION NOT NULL,
    submit_burst_per_user BIGINT NOT NULL,
    active_jobs BIGINT NOT NULL DEFAULT 0,
    jwt TEXT,
    node_allowlist TEXT,
    allowed_pools TEXT,
    webhook_secret TEXT NOT NULL,
    webhook_secret_previous TEXT,
    webhook_secret_previous_until BIGINT,
    created_at BIGINT NOT NULL
  )`,
  `CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
  )`,
  `CREATE INDEX api_keys_account ON api_keys (account_id)`,
  // active = queued + running jobs of the user; running drives fair claims. Both only move inside
  // the same transaction as the job's own state change.
  `CREATE TABLE user_counters (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 0,
    running BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, user_id)
  )`,
  `CREATE INDEX user_counters_waiting ON user_counters (running) WHERE active > running`,
  `CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    pool TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    workflow TEXT NOT NULL,
    template_name TEXT,
    inputs TEXT NOT NULL,
    inputs_ready INTEGER NOT NULL,
    webhook_url TEXT,
    metadata TEXT NOT NULL,
    progress TEXT,
    outputs TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT,
    lease_expires_at BIGINT,
    idempotency_key TEXT,
    request_hash TEXT,
    event_seq INTEGER NOT NULL DEFAULT 0,
    fetch_owner TEXT,
    fetch_lease_until BIGINT,
    swept_at BIGINT
  )`,
  `CREATE UNIQUE INDEX jobs_idempotency ON jobs (account_id, user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL`,
  `CREATE INDEX jobs_claimable ON jobs (priority DESC, created_at, id) WHERE status = 'queued' AND inputs_ready = 1`,
  `CREATE INDEX jobs_fetchable ON jobs (created_at) WHERE status = 'queued' AND inputs_ready = 0`,
  `CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE status = 'running'`,
  `CREATE INDEX jobs_owner ON jobs (account_id, user_id, id)`,
  `CREATE INDEX jobs_sweep ON jobs (finished_at) WHERE finished_at IS NOT NULL AND swept_at IS NULL`,
  `CREATE TABLE job_events (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (job_id, seq)
  )`,
  `CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE TABLE templates (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    workflow TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT
  )`,
  `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`,
  `CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id)`,
  `CREATE INDEX webhook_deliveries_account ON webhook_deliveries (account_id, created_at)`,
  `CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
  )`,
  `CREATE TABLE webhook_disabled_endpoints (
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    disabled_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, url)
  )`,
  `CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    pool TEXT NOT NULL,
    kind TEXT NOT NULL,
    comfy_url TEXT,
    status TEXT NOT NULL,
    provider_ref TEXT,
    started_at BIGINT NOT NULL,
    ready_at BIGINT,
    stopped_at BIGINT,
    last_seen_at BIGINT NOT NULL
  )`,
  `CREATE TABLE worker_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    pool TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
  )`,
  `CREATE TABLE scaling_decisions (
    pool TEXT NOT NULL,
    at BIGINT NOT NULL,
    current_count INTEGER NOT NULL,
    target_count INTEGER NOT NULL,
    reason TEXT NOT NULL
  )`,
  `CREATE INDEX scaling_decisions_pool_at ON scaling_decisions (pool, at)`,
];

/** Tables keyed by a composite key are stored in their key's b-tree on SQLite (one write instead of two). */
const COMPACT_ON_SQLITE = ['user_counters', 'job_events', 'webhook_attempts', 'webhook_disabled_endpoints'];

function sqliteVariant(statement: string): string {
  const table = /^CREATE TABLE (\w+)/.exec(statement)?.[1];
  return table !== undefined && COMPACT_ON_SQLITE.includes(table) ? `${statement} WITHOUT ROWID` : statement;
}

export const migration001: Migration = {
  id: 1,
  name: 'initial',
  sqlite: shared.map(sqliteVariant),
  postgres: shared,
};
