/** Table shapes as Kysely sees them (what the columns hold, before row mappers parse them into domain types). */
import type { Generated } from 'kysely';

export interface AccountsTable {
  id: string;
  name: string;
  max_active_jobs_per_user: number;
  max_active_jobs: number;
  submit_rate_per_user: number;
  submit_burst_per_user: number;
  active_jobs: Generated<number>;
  jwt: string | null;
  node_allowlist: string | null;
  file_node_allowlist: Generated<string>;
  allowed_pools: string | null;
  webhook_secret: string;
  webhook_secret_previous: string | null;
  webhook_secret_previous_until: number | null;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface UserCountersTable {
  account_id: string;
  user_id: string;
  active: number;
  running: number;
}

export interface JobsTable {
  id: string;
  account_id: string;
  user_id: string;
  status: string;
  priority: number;
  /** NULL only in rows written before pools were resolved at admission (adopted at serve start). */
  pool: string | null;
  cancel_requested: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  workflow: string;
  template_name: string | null;
  inputs: string;
  inputs_ready: number;
  webhook_url: string | null;
  metadata: string;
  progress: string | null;
  outputs: string;
  error: string | null;
  attempts: number;
  worker_id: string | null;
  lease_expires_at: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  event_seq: number;
  /** The input fetch lease (migration 008 renamed fetch_owner / fetch_lease_until). */
  fetch_lease_owner: string | null;
  fetch_lease_expires_at: number | null;
  swept_at: number | null;
  models: Generated<string>;
  affinity_passed_at: Generated<number | null>;
  /** The job's base model (migration 011): written at admission on SQLite, generated on Postgres. */
  base_model_kind: Generated<string | null>;
  base_model_name: Generated<string | null>;
  /** Voluntary releases among the job's claims (migration 012): not counted against the retry limit. */
  refunded_attempts: Generated<number>;
  /**
   * The id the claimer gave the claim that made the job's latest lease by this release, or null when it named none
   * (migration 014; a replica of the previous release's claim leaves the earlier one). Read for running jobs only.
   */
  claim_id: Generated<string | null>;
}

export interface JobEventsTable {
  job_id: string;
  seq: number;
  type: string;
  data: string;
  at: number;
}

export interface RateBucketsTable {
  key: string;
  tokens: number;
  updated_at: number;
}

export interface TemplatesTable {
  name: string;
  description: string;
  workflow: string;
  params: string;
  /** Owner account; null for a global template. */
  account_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  account_id: string;
  job_id: string;
  url: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
  lease_owner: string | null;
  /** Renamed from lease_until by migration 008. */
  lease_expires_at: number | null;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface WebhookDisabledEndpointsTable {
  account_id: string;
  url: string;
  disabled_at: number;
}

export interface WorkersTable {
  id: string;
  name: string;
  pool: string;
  kind: string;
  comfy_url: string | null;
  status: string;
  provider_ref: string | null;
  started_at: number;
  ready_at: number | null;
  stopped_at: number | null;
  last_seen_at: number;
  models_known: Generated<number>;
  models_available: Generated<string>;
  models_warm: Generated<string>;
  models_on_disk: Generated<string>;
  model_fetch: Generated<number>;
  model_switches: Generated<number>;
  models_prefetch: Generated<string>;
}

export interface WorkerPrefetchRefusedTable {
  worker_id: string;
  name: string;
  refused_at: number;
}

export interface ModelFilesTable {
  name: string;
  kind: string;
  url: string;
  sha256: string;
  size: number;
  created_at: number;
}

export interface WorkerTokensTable {
  id: string;
  name: string;
  pool: string;
  hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface ScalingDecisionsTable {
  pool: string;
  at: number;
  current_count: number;
  target_count: number;
  reason: string;
}

export interface MigrationsTable {
  id: number;
  name: string;
  applied_at: number;
}

export interface DatabaseSchema {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  user_counters: UserCountersTable;
  jobs: JobsTable;
  job_events: JobEventsTable;
  rate_buckets: RateBucketsTable;
  templates: TemplatesTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_disabled_endpoints: WebhookDisabledEndpointsTable;
  workers: WorkersTable;
  worker_prefetch_refused: WorkerPrefetchRefusedTable;
  worker_tokens: WorkerTokensTable;
  model_files: ModelFilesTable;
  scaling_decisions: ScalingDecisionsTable;
  arrakis_migrations: MigrationsTable;
}
