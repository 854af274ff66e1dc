/**
 * Every setting of `arrakis serve` in one closed table: its flag, its environment variable, its default,
 * what it accepts and what it means. Flags, env parsing, validation, `--help` and docs/configuration.md
 * are all derived from this table.
 */
import { z } from 'zod';

/** How a raw flag or env string becomes a value before the schema checks it. */
export type SettingKind = 'string' | 'integer' | 'number' | 'list' | 'boolean';

export interface SettingSpec {
  flag: string;
  env: string;
  kind: SettingKind;
  /** Human text shown in --help and docs; says what is accepted. */
  description: string;
  schema: z.ZodType;
  /** Shown in help and docs; undefined when there is none. */
  defaultText?: string;
  /** The value is a secret: errors never echo it. (Passwords inside URLs are always redacted.) */
  secret?: boolean;
}

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'HOST:PORT');
const httpUrl = z.url({ protocol: /^https?$/ });

export const SETTINGS = {
  host: {
    flag: '--host',
    env: 'ARRAKIS_HOST',
    kind: 'string',
    description: 'bind address',
    schema: z.string().min(1).default('127.0.0.1'),
    defaultText: '127.0.0.1',
  },
  port: {
    flag: '--port',
    env: 'ARRAKIS_PORT',
    kind: 'integer',
    description: 'TCP port, 0 picks a free one',
    schema: port.default(8080),
    defaultText: '8080',
  },
  db: {
    flag: '--db',
    env: 'ARRAKIS_DB',
    kind: 'string',
    description: 'database: sqlite:PATH, sqlite::memory: or postgres://user@host:5432/db',
    schema: z
      .string()
      .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'sqlite:PATH or postgres://...')
      .default('sqlite:./data/arrakis.db'),
    defaultText: 'sqlite:./data/arrakis.db',
  },
  storage: {
    flag: '--storage',
    env: 'ARRAKIS_STORAGE',
    kind: 'string',
    description: 'object storage: file:PATH or s3://bucket/prefix?endpoint=URL&region=R&force_path_style=1',
    schema: z
      .string()
      .regex(/^(file:.+|s3:\/\/[^/?]+.*)$/, 'file:PATH or s3://bucket/prefix?...')
      .default('file:./data/objects'),
    defaultText: 'file:./data/objects',
  },
  comfyui: {
    flag: '--comfyui',
    env: 'ARRAKIS_COMFYUI',
    kind: 'list',
    description: 'ComfyUI server URL to use as a worker, one job at a time (repeatable; env comma-separated)',
    schema: z.array(httpUrl).default([]),
  },
  comfyLite: {
    flag: '--comfy-lite',
    env: 'ARRAKIS_COMFY_LITE',
    kind: 'integer',
    description: 'number of comfy-lite workers, each a child process restarted when it dies',
    schema: z.number().int().min(0).max(64).default(0),
    defaultText: '0',
  },
  comfyLiteMaxPixels: {
    flag: '--comfy-lite-max-pixels',
    env: 'ARRAKIS_COMFY_LITE_MAX_PIXELS',
    kind: 'integer',
    description:
      'largest image batch (width × height × batch) a comfy-lite node may create; a prompt may hold 4× that',
    schema: z
      .number()
      .int()
      .min(1)
      .max(2 ** 40)
      .default(16_777_216),
    defaultText: '16777216',
  },
  adminKey: {
    flag: '--admin-key',
    env: 'ARRAKIS_ADMIN_KEY',
    kind: 'string',
    description: 'bearer key for /v1/admin/* (at least 16 characters); without it the admin API is off',
    schema: z.string().min(16, 'at least 16 characters').optional(),
    secret: true,
  },
  corsOrigins: {
    flag: '--cors-origin',
    env: 'ARRAKIS_CORS_ORIGINS',
    kind: 'list',
    description: 'browser origin allowed to call the job endpoints (repeatable; env comma-separated)',
    schema: z.array(z.url({ protocol: /^https?$/ })).default([]),
  },
  jwtMaxLifetimeS: {
    flag: '--jwt-max-lifetime-s',
    env: 'ARRAKIS_JWT_MAX_LIFETIME_S',
    kind: 'integer',
    description:
      'longest lifetime an end-user JWT may claim, in seconds: exp - iat (or exp - now without iat)',
    schema: z.number().int().min(60).max(2_592_000).default(86_400),
    defaultText: '86400',
  },
  publicUrl: {
    flag: '--public-url',
    env: 'ARRAKIS_PUBLIC_URL',
    kind: 'string',
    description:
      'the API root as clients reach it (https://api.example.com); absolute URLs in answers start with it, else with the request Host',
    schema: httpUrl.optional(),
  },
  fetchAllow: {
    flag: '--fetch-allow',
    env: 'ARRAKIS_FETCH_ALLOW',
    kind: 'list',
    description: 'HOST:PORT that input and webhook URLs may reach even if private or loopback (repeatable)',
    schema: z.array(hostPort).default([]),
  },
  templates: {
    flag: '--templates',
    env: 'ARRAKIS_TEMPLATES',
    kind: 'string',
    description: 'folder of template JSON files loaded at start',
    schema: z.string().min(1).optional(),
  },
  fleet: {
    flag: '--fleet',
    env: 'ARRAKIS_FLEET',
    kind: 'string',
    description: 'fleet file (YAML) describing GPU pools and autoscaling',
    schema: z.string().min(1).optional(),
  },
  defaultPool: {
    flag: '--default-pool',
    env: 'ARRAKIS_DEFAULT_POOL',
    kind: 'string',
    description:
      "pool of jobs that name none, and of this serve's own workers and worker tokens issued without a pool; overrides the fleet file's",
    schema: z.string().min(1).max(64).optional(),
    defaultText: "default, or the fleet file's default_pool (else its first pool)",
  },
  webhookRetry: {
    flag: '--webhook-retry',
    env: 'ARRAKIS_WEBHOOK_RETRY',
    kind: 'string',
    description: 'webhook retry delays, comma-separated durations',
    schema: z
      .string()
      .regex(/^\s*\d+(\.\d+)?(ms|s|m|h)(\s*,\s*\d+(\.\d+)?(ms|s|m|h))*\s*$/, 'durations like 1s,5s,30s,5m')
      .default('1s,5s,30s,5m,30m,2h,5h,10h'),
    defaultText: '1s,5s,30s,5m,30m,2h,5h,10h',
  },
  leaseSeconds: {
    flag: '--lease-seconds',
    env: 'ARRAKIS_LEASE_SECONDS',
    kind: 'integer',
    description: 'worker lease length; a worker silent this long loses its job',
    schema: z.number().int().min(2).max(3600).default(30),
    defaultText: '30',
  },
  maxAttempts: {
    flag: '--max-attempts',
    env: 'ARRAKIS_MAX_ATTEMPTS',
    kind: 'integer',
    description: 'how many workers may try a job before it fails worker_lost',
    schema: z.number().int().min(1).max(20).default(3),
    defaultText: '3',
  },
  jobTimeoutSeconds: {
    flag: '--job-timeout-seconds',
    env: 'ARRAKIS_JOB_TIMEOUT_SECONDS',
    kind: 'integer',
    description: 'longest a job may run on a worker before it fails timeout',
    schema: positiveInt.max(86400).default(1800),
    defaultText: '1800',
  },
  affinityMaxDelaySeconds: {
    flag: '--affinity-max-delay-s',
    env: 'ARRAKIS_AFFINITY_MAX_DELAY_S',
    kind: 'number',
    description:
      'how long a free worker may pass over the fair next job for one whose model it already holds, in seconds; 0 turns affinity off',
    schema: z.number().min(0).max(3600).default(10),
    defaultText: '10',
  },
  modelLoaders: {
    flag: '--model-loaders',
    env: 'ARRAKIS_MODEL_LOADERS',
    kind: 'list',
    description:
      'extra loader node input naming a model file, as Class.input=kind (kind: checkpoint|lora|vae|clip|unet|controlnet|upscale|other; repeatable)',
    schema: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9_+-]+\.[A-Za-z0-9_]+=(checkpoint|lora|vae|clip|unet|controlnet|upscale|other)$/,
            'Class.input=kind',
          ),
      )
      .default([]),
  },
  modelsDir: {
    flag: '--models-dir',
    env: 'ARRAKIS_MODELS_DIR',
    kind: 'string',
    description:
      "the --comfyui servers' models/ folder: in-process agents fetch registered model files into it before a job (enables the model cache)",
    schema: z.string().min(1).optional(),
  },
  modelCacheGb: {
    flag: '--model-cache-gb',
    env: 'ARRAKIS_MODEL_CACHE_GB',
    kind: 'number',
    description: 'disk budget of the model cache; least recently used fetched files are evicted beyond it',
    schema: z.number().positive().max(1_000_000).default(100),
    defaultText: '100',
  },
  vramModels: {
    flag: '--vram-models',
    env: 'ARRAKIS_VRAM_MODELS',
    kind: 'integer',
    description:
      "how many jobs' models an in-process agent's ComfyUI keeps resident (its --cache-lru, bounded by VRAM)",
    schema: z.number().int().min(1).max(1024).default(1),
    defaultText: '1',
  },
  retentionDays: {
    flag: '--retention-days',
    env: 'ARRAKIS_RETENTION_DAYS',
    kind: 'number',
    description: 'inputs and outputs are deleted this many days after the job ends (0 keeps them)',
    schema: z.number().min(0).max(3650).default(7),
    defaultText: '7',
  },
  presignTtlSeconds: {
    flag: '--presign-ttl-seconds',
    env: 'ARRAKIS_PRESIGN_TTL_SECONDS',
    kind: 'integer',
    description: 'lifetime of presigned output URLs (S3 storage)',
    schema: positiveInt.max(604800).default(900),
    defaultText: '900',
  },
  maxBodyMb: {
    flag: '--max-body-mb',
    env: 'ARRAKIS_MAX_BODY_MB',
    kind: 'number',
    description: 'largest accepted request body in MiB (inputs in base64 count)',
    schema: z.number().positive().max(1024).default(32),
    defaultText: '32',
  },
  maxWorkflowNodes: {
    flag: '--max-workflow-nodes',
    env: 'ARRAKIS_MAX_WORKFLOW_NODES',
    kind: 'integer',
    description: 'most nodes a submitted workflow or template may have (more: 422 workflow_too_large)',
    schema: positiveInt.max(1_000_000).default(5000),
    defaultText: '5000',
  },
  maxWorkflowLinks: {
    flag: '--max-workflow-links',
    env: 'ARRAKIS_MAX_WORKFLOW_LINKS',
    kind: 'integer',
    description: 'most links a submitted workflow or template may have (more: 422 workflow_too_large)',
    schema: positiveInt.max(4_000_000).default(20000),
    defaultText: '20000',
  },
  logLevel: {
    flag: '--log-level',
    env: 'ARRAKIS_LOG_LEVEL',
    kind: 'string',
    description: 'fatal, error, warn, info, debug, trace or silent',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    defaultText: 'info',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;
