/**
 * Reads a fleet file: YAML validated against fleet-file-schema.ts, turned into frozen PoolConfig objects.
 * Every error names the field path (`pools.gpu.schedules.0.hours`) and what is accepted.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import {
  baseModelSizeGb,
  FleetFileSchema,
  HOURS_PATTERN,
  TZ_PATTERN,
  type PoolInput,
  type ScheduleInput,
} from './fleet-file-schema.js';
import type { Schedule } from './schedule.js';

export type ProviderKind = 'static' | 'process' | 'modal';

export interface ProcessSettings {
  command: string;
  env: Record<string, string>;
  gpus: string[] | null;
  cwd: string | null;
  readyPattern: string;
  startTimeoutMs: number;
  stopGraceMs: number;
  /** The worker's `models/` folder template (`{gpu}`, `{worker}`, `{port}`); null = no model cache. */
  modelsDir: string | null;
  /** Disk budget of that model cache, in GB. */
  modelCacheGb: number;
}

export interface ModalSettings {
  app: string;
  image: string;
  command: string[] | null;
  port: number;
  timeoutMs: number;
  readyTimeoutMs: number;
  env: Record<string, string>;
  regions: string[] | null;
}

/** A warm-up workflow: inline, or a path (relative to the fleet file) until loadFleetFile reads it. */
export type WarmupWorkflow =
  { kind: 'inline'; workflow: Record<string, unknown> } | { kind: 'path'; path: string };

/** How a pool's workers hold models, by tier; null fields fall back to the simulator's or agent's defaults. */
export interface PoolModelSettings {
  vramGb: number | null;
  /** Size in GB by model kind (`base` when one size was given for every base model). */
  modelSizeGb: Readonly<Record<string, number>>;
  /** Models resident per worker: `vram_models`, else how many base models fit in `vram_gb`. */
  vramModels: number | null;
  diskCacheModels: number | null;
  bootS: number | null;
  diskLoadS: number | null;
  /** The wait the operator aims for at peak; `arrakis simulate` checks it and searches the horizon. */
  targetP95WaitS: number | null;
}

export interface PoolConfig {
  name: string;
  provider: ProviderKind;
  /** GPU types in preference order (the first that is available is used). Empty: provider default. */
  gpus: string[];
  min: number;
  max: number;
  buffer: number;
  scaleDownMs: number;
  schedules: Schedule[];
  pricePerGpuSecond: number;
  coldStartMs: number;
  maxCostPerHour: number | null;
  /** The autoscaler's forecast horizon in seconds (null or absent: 1.17 × `coldStartMs`). */
  planningHorizonS?: number | null;
  /** Copy returning users' models onto idle workers' disks (more fetches, shorter peak waits). */
  sessionCopies?: boolean;
  /**
   * `prefetch_cover`: disk copies of a model the pool's prefetches aim for, per live worker and unit share
   * of the jobs (0 = no background prefetches). Absent: the tuned default (8).
   */
  prefetchCover?: number;
  /**
   * `latency_hours`: the hours the operator's wait target applies to; outside them the autoscaler keeps no
   * spare workers (jobs there may wait a cold start). Null or absent: every hour.
   */
  latencyHours?: Schedule | null;
  warmup: WarmupWorkflow | null;
  /** Always set by the parser; optional so pools built in code (tests, defaults) need not spell it out. */
  models?: PoolModelSettings;
  static: { urls: string[] } | null;
  process: ProcessSettings | null;
  modal: ModalSettings | null;
}

export interface FleetConfig {
  pools: PoolConfig[];
  /** `default_pool`: one of `pools`; null when the file names none. */
  defaultPool: string | null;
}

/** A fleet file that cannot be used; the message lists every problem. */
export class FleetConfigError extends Error {
  readonly code = 'fleet_invalid';
}

const DAY_SETS: Record<string, number[]> = {
  daily: [0, 1, 2, 3, 4, 5, 6],
  weekdays: [1, 2, 3, 4, 5],
  weekends: [0, 6],
};
const DAY_INDEX: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

function toSchedule(s: ScheduleInput, index: number): Schedule {
  const hours = HOURS_PATTERN.exec(s.hours);
  const tz = TZ_PATTERN.exec(s.tz);
  // Both were checked by the schema; the fallbacks only satisfy the type checker.
  const startMinute = Number(hours?.[1] ?? 0) * 60 + Number(hours?.[2] ?? 0);
  const endMinute = Number(hours?.[3] ?? 0) * 60 + Number(hours?.[4] ?? 0);
  const sign = s.tz.startsWith('-') ? -1 : 1;
  const offsetMinutes = tz?.[2] === undefined ? 0 : sign * (Number(tz[2]) * 60 + Number(tz[3] ?? 0));
  const days = typeof s.days === 'string' ? (DAY_SETS[s.days] ?? []) : s.days.map((d) => DAY_INDEX[d] ?? 0);
  return {
    name: s.name ?? `schedule ${index + 1} (${s.hours} ${s.tz})`,
    days,
    startMinute,
    endMinute,
    offsetMinutes,
    min: s.min ?? null,
    buffer: s.buffer ?? null,
  };
}

function toPool(name: string, p: PoolInput): PoolConfig {
  const gpus = p.gpu === undefined ? [] : typeof p.gpu === 'string' ? [p.gpu] : p.gpu;
  const warmup: WarmupWorkflow | null =
    p.warmup === undefined
      ? null
      : typeof p.warmup.workflow === 'string'
        ? { kind: 'path', path: p.warmup.workflow }
        : { kind: 'inline', workflow: p.warmup.workflow };
  const pr = p.process;
  const m = p.modal;
  return {
    name,
    provider: p.provider,
    gpus,
    min: p.min,
    max: p.max,
    buffer: p.buffer,
    scaleDownMs: p.scale_down_s * 1000,
    schedules: p.schedules.map(toSchedule),
    pricePerGpuSecond: p.price_per_gpu_second,
    coldStartMs: p.cold_start_s * 1000,
    maxCostPerHour: p.max_cost_per_hour ?? null,
    planningHorizonS: p.planning_horizon_s ?? null,
    ...(p.session_copies === undefined ? {} : { sessionCopies: p.session_copies }),
    ...(p.prefetch_cover === undefined ? {} : { prefetchCover: p.prefetch_cover }),
    latencyHours: p.latency_hours ?? null,
    warmup,
    models: modelSettings(p),
    static: p.static === undefined ? null : { urls: p.static.urls },
    process:
      pr === undefined
        ? null
        : {
            command: pr.command,
            env: pr.env,
            gpus: pr.gpus ?? null,
            cwd: pr.cwd ?? null,
            readyPattern: pr.ready_pattern,
            startTimeoutMs: pr.start_timeout_s * 1000,
            stopGraceMs: pr.stop_grace_s * 1000,
            modelsDir: pr.models_dir ?? null,
            modelCacheGb: pr.model_cache_gb ?? 100,
          },
    modal:
      m === undefined
        ? null
        : {
            app: m.app,
            image: m.image,
            command: m.command ?? null,
            port: m.port,
            timeoutMs: m.timeout_s * 1000,
            readyTimeoutMs: m.ready_timeout_s * 1000,
            env: m.env,
            regions: m.regions ?? null,
          },
  };
}

function modelSettings(p: PoolInput): PoolModelSettings {
  const size = baseModelSizeGb(p.model_size_gb);
  const fit = p.vram_gb !== undefined && size !== null ? Math.floor(p.vram_gb / size) : null;
  return {
    vramGb: p.vram_gb ?? null,
    modelSizeGb:
      p.model_size_gb === undefined
        ? {}
        : typeof p.model_size_gb === 'number'
          ? { base: p.model_size_gb }
          : { ...p.model_size_gb },
    vramModels: p.vram_models ?? fit,
    diskCacheModels: p.disk_cache_models ?? null,
    bootS: p.boot_s ?? null,
    diskLoadS: p.disk_load_s ?? null,
    targetP95WaitS: p.target_p95_wait_s ?? null,
  };
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `  ${i.path.length === 0 ? '(top level)' : i.path.join('.')}: ${i.message}`)
    .join('\n');
}

/** Parses fleet-file YAML text; `source` names the file in error messages. */
export function parseFleetFile(text: string, source = 'fleet file'): FleetConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const detail = err instanceof YAMLParseError ? err.message : String(err);
    throw new FleetConfigError(`${source} is not valid YAML: ${detail}`);
  }
  const parsed = FleetFileSchema.safeParse(raw);
  if (!parsed.success) throw new FleetConfigError(`${source} is invalid:\n${describeIssues(parsed.error)}`);
  const pools = Object.entries(parsed.data.pools).map(([name, p]) => toPool(name, p));
  return deepFreeze({ pools, defaultPool: parsed.data.default_pool ?? null });
}

/** Reads and parses a fleet file, loading warm-up workflows named by path (relative to the file). */
export async function loadFleetFile(path: string): Promise<FleetConfig> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new FleetConfigError(
      `cannot read fleet file ${path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  const config = parseFleetFile(text, path);
  const pools = await Promise.all(config.pools.map((p) => loadWarmup(p, dirname(resolve(path)))));
  return deepFreeze({ ...config, pools });
}

const WorkflowJson = z.record(z.string(), z.unknown());

async function loadWarmup(pool: PoolConfig, baseDir: string): Promise<PoolConfig> {
  if (pool.warmup?.kind !== 'path') return pool;
  const file = resolve(baseDir, pool.warmup.path);
  const where = `pools.${pool.name}.warmup.workflow`;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new FleetConfigError(
      `${where}: cannot read ${file} as JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const workflow = WorkflowJson.safeParse(json);
  if (!workflow.success)
    throw new FleetConfigError(`${where}: ${file} must hold a ComfyUI API-format workflow object`);
  return { ...pool, warmup: { kind: 'inline', workflow: workflow.data } };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
