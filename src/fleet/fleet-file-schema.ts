/**
 * The zod schema of a fleet file (`--fleet fleet.yaml`), in the file's own snake_case.
 * fleet-file.ts parses with it and turns the result into PoolConfig objects.
 */
import { z } from 'zod';
import { MODEL_KINDS } from '../models/model-refs.js';
import { parsePeak } from './simulator/peak-window.js';

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const count = (what: string) =>
  z
    .number({ error: `${what} must be a whole number ≥ 0` })
    .int({ error: `${what} must be a whole number ≥ 0` })
    .min(0, {
      error: `${what} must be a whole number ≥ 0`,
    });

const positive = (what: string) =>
  z.number({ error: `${what} must be a number > 0` }).positive({ error: `${what} must be a number > 0` });

const nonNegative = (what: string) =>
  z.number({ error: `${what} must be a number ≥ 0` }).min(0, { error: `${what} must be a number ≥ 0` });

export const DaysSchema = z.union(
  [z.enum(['daily', 'weekdays', 'weekends']), z.array(z.enum(DAY_NAMES)).min(1)],
  { error: `days must be "daily", "weekdays", "weekends" or a list of ${DAY_NAMES.join(', ')}` },
);

export const HOURS_PATTERN = /^([01]\d|2[0-4])(?::([0-5]\d))?-([01]\d|2[0-4])(?::([0-5]\d))?$/;
export const TZ_PATTERN = /^(UTC|Z|[+-]([01]\d|2[0-3]):([0-5]\d))$/;

/**
 * `latency_hours`: days and hours like `arrakis simulate --peak`, e.g. "Mon-Fri 12:00-18:00" (UTC unless an
 * offset follows), parsed here once into the schedule the live fleet and the simulator both check.
 */
const LatencyHoursSchema = z
  .string({ error: 'latency_hours must look like "Mon-Fri 09:00-18:00"' })
  .transform((v, ctx) => {
    try {
      return parsePeak(v, 'latency_hours');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });

export const ScheduleSchema = z.strictObject({
  name: z.string().min(1).optional(),
  days: DaysSchema.default('daily'),
  hours: z
    .string({ error: 'hours must look like "09-18" or "09:30-18:00" (24-hour clock)' })
    .regex(HOURS_PATTERN, {
      error: 'hours must look like "09-18" or "09:30-18:00" (24-hour clock)',
    }),
  tz: z
    .string()
    .regex(TZ_PATTERN, { error: 'tz must be "UTC" or an offset like "+02:00" or "-05:00"' })
    .default('UTC'),
  min: count('min').optional(),
  buffer: count('buffer').optional(),
});

const WorkflowSchema = z.record(z.string(), z.unknown(), {
  error: 'workflow must be a file path or an inline object',
});

export const WarmupSchema = z.strictObject({
  workflow: z.union([z.string().min(1), WorkflowSchema], {
    error: 'warmup.workflow must be a path to a ComfyUI API-format JSON file or an inline workflow object',
  }),
});

export const StaticSettingsSchema = z.strictObject({
  urls: z
    .array(z.url({ error: 'each url must be an http(s) URL' }))
    .min(1, { error: 'list at least one ComfyUI URL' }),
});

export const ProcessSettingsSchema = z.strictObject({
  command: z
    .string({ error: 'command must be a string such as "python main.py --port {port}"' })
    .refine((c) => c.includes('{port}'), { error: 'command must contain {port} (the port Arrakis picks)' }),
  env: z.record(z.string(), z.string()).default({}),
  gpus: z.array(z.string().min(1)).min(1).optional(),
  cwd: z.string().optional(),
  ready_pattern: z.string().default('listening on (https?://\\S+)'),
  start_timeout_s: positive('start_timeout_s').default(180),
  stop_grace_s: nonNegative('stop_grace_s').default(10),
  // The worker's ComfyUI `models/` folder on this host ({gpu}, {worker}, {port} filled in): the fleet's agent
  // keeps a model cache there, so the model plan can prefetch registered files onto the worker's disk.
  models_dir: z.string().min(1).optional(),
  model_cache_gb: positive('model_cache_gb').optional(),
});

export const ModalSettingsSchema = z.strictObject({
  app: z.string({ error: 'app must name the Modal app the sandboxes belong to' }).min(1),
  image: z.string({ error: 'image must be a registry tag of an image with ComfyUI' }).min(1),
  command: z.array(z.string()).min(1).optional(),
  port: z.number().int().min(1).max(65535).default(8188),
  timeout_s: positive('timeout_s').default(3600),
  ready_timeout_s: positive('ready_timeout_s').default(300),
  env: z.record(z.string(), z.string()).default({}),
  regions: z.array(z.string()).optional(),
});

/** Size of a model in GB: one number (for every base model) or one per kind (`{ checkpoint: 2.1, lora: 0.2 }`). */
export const ModelSizeSchema = z.union(
  [positive('model_size_gb'), z.partialRecord(z.enum(MODEL_KINDS), positive('each model_size_gb'))],
  { error: `model_size_gb must be a size in GB or a map of ${MODEL_KINDS.join(', ')} to sizes` },
);

export const PoolSchema = z
  .strictObject({
    provider: z.enum(['static', 'process', 'modal'], {
      error: 'provider must be one of static, process, modal',
    }),
    gpu: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    min: count('min').default(0),
    max: count('max').default(1),
    buffer: count('buffer').default(0),
    scale_down_s: nonNegative('scale_down_s').default(60),
    schedules: z.array(ScheduleSchema).default([]),
    price_per_gpu_second: nonNegative('price_per_gpu_second').default(0),
    cold_start_s: nonNegative('cold_start_s').default(25),
    max_cost_per_hour: positive('max_cost_per_hour').optional(),
    // Models, by tier: what a worker keeps resident and on disk, and what a load costs (see docs/fleet.md).
    vram_gb: positive('vram_gb').optional(),
    model_size_gb: ModelSizeSchema.optional(),
    vram_models: count('vram_models').min(1, { error: 'vram_models must be at least 1' }).optional(),
    disk_cache_models: count('disk_cache_models').optional(),
    boot_s: nonNegative('boot_s').optional(),
    disk_load_s: nonNegative('disk_load_s').optional(),
    planning_horizon_s: nonNegative('planning_horizon_s').optional(),
    target_p95_wait_s: positive('target_p95_wait_s').optional(),
    session_copies: z.boolean({ error: 'session_copies must be true or false' }).optional(),
    prefetch_cover: nonNegative('prefetch_cover').optional(),
    latency_hours: LatencyHoursSchema.optional(),
    warmup: WarmupSchema.optional(),
    static: StaticSettingsSchema.optional(),
    process: ProcessSettingsSchema.optional(),
    modal: ModalSettingsSchema.optional(),
  })
  .superRefine((p, ctx) => {
    for (const kind of ['static', 'process', 'modal'] as const) {
      if (kind === p.provider && p[kind] === undefined) {
        ctx.addIssue({ code: 'custom', path: [kind], message: `required when provider is ${kind}` });
      }
      if (kind !== p.provider && p[kind] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [kind], message: `only allowed when provider is ${kind}` });
      }
    }
    if (p.min > p.max)
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${p.min} exceeds max ${p.max}` });
    p.schedules.forEach((s, i) => {
      if (s.min !== undefined && s.min > p.max) {
        ctx.addIssue({
          code: 'custom',
          path: ['schedules', i, 'min'],
          message: `min ${s.min} exceeds max ${p.max}`,
        });
      }
    });
    checkVram(p, ctx);
    const gpus = p.process?.gpus;
    if (gpus !== undefined && p.max > gpus.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['max'],
        message: `max ${p.max} exceeds the ${gpus.length} listed gpus`,
      });
    }
    checkModelsDir(p.max, p.process, ctx);
  });

/**
 * Two live workers of a pool must not share a `models_dir`: each keeps its own model cache (manifest and
 * evictions) there, so one would evict a file the other's ComfyUI is loading and overwrite its manifest.
 * `{worker}` or `{port}` differ per worker; `{gpu}` does when `gpus` is listed (max ≤ their number).
 */
function checkModelsDir(
  max: number,
  process: { models_dir?: string | undefined; gpus?: string[] | undefined } | undefined,
  ctx: z.RefinementCtx,
): void {
  const dir = process?.models_dir;
  if (dir === undefined || max <= 1) return;
  if (dir.includes('{worker}') || dir.includes('{port}')) return;
  if (dir.includes('{gpu}') && process?.gpus !== undefined) return;
  ctx.addIssue({
    code: 'custom',
    path: ['process', 'models_dir'],
    message:
      `"${dir}" would be the same folder for two workers of this pool (max ${max}), whose model caches ` +
      'would evict each other’s files: put {worker} in it, or {gpu} with process.gpus listed',
  });
}

export const POOL_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** The base-model size the VRAM budget is divided by: the checkpoint size, or the only size given. */
export function baseModelSizeGb(size: z.output<typeof ModelSizeSchema> | undefined): number | null {
  if (size === undefined) return null;
  return typeof size === 'number' ? size : (size.checkpoint ?? size.unet ?? null);
}

function checkVram(
  p: { vram_gb?: number; model_size_gb?: z.output<typeof ModelSizeSchema>; vram_models?: number },
  ctx: z.RefinementCtx,
): void {
  if (p.vram_gb === undefined) return;
  const size = baseModelSizeGb(p.model_size_gb);
  if (size === null) {
    ctx.addIssue({
      code: 'custom',
      path: ['model_size_gb'],
      message: 'required with vram_gb (a size in GB, or one with a checkpoint or unet entry)',
    });
    return;
  }
  const fits = Math.floor(p.vram_gb / size);
  if (fits < 1) {
    ctx.addIssue({ code: 'custom', path: ['vram_gb'], message: `${p.vram_gb} GB holds no ${size} GB model` });
  } else if (p.vram_models !== undefined && p.vram_models > fits) {
    ctx.addIssue({
      code: 'custom',
      path: ['vram_models'],
      message: `vram_models ${p.vram_models} exceeds the ${fits} models of ${size} GB that fit in ${p.vram_gb} GB`,
    });
  }
}

export const FleetFileSchema = z
  .strictObject({
    // Names are checked beside the pools, not as record keys: a key that fails stops zod from checking its
    // pool, and every problem of a pool should be reported at once.
    pools: z.record(z.string(), PoolSchema).superRefine(
      (pools, ctx) => {
        if (Object.keys(pools).length === 0)
          ctx.addIssue({ code: 'custom', message: 'define at least one pool' });
        for (const name of Object.keys(pools)) {
          if (POOL_NAME_PATTERN.test(name)) continue;
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message:
              `pool name "${name}" is not allowed: use 1 to 63 lowercase letters (a-z), digits (0-9), "-" and "_", ` +
              'starting with a letter or digit (e.g. "gpu-a100")',
          });
        }
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    ),
    // The pool of jobs that name none (see runtime/known-pools.ts); absent: the first pool.
    default_pool: z.string().optional(),
  })
  .superRefine((file, ctx) => {
    if (file.default_pool === undefined || Object.hasOwn(file.pools, file.default_pool)) return;
    ctx.addIssue({
      code: 'custom',
      path: ['default_pool'],
      message: `"${file.default_pool}" is not a pool of this file (pools: ${Object.keys(file.pools).join(', ')})`,
    });
  });

export type FleetFileInput = z.output<typeof FleetFileSchema>;
export type PoolInput = z.output<typeof PoolSchema>;
export type ScheduleInput = z.output<typeof ScheduleSchema>;
