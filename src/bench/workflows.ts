/**
 * The jobs the battery submits: the user's `--workflow` / `--template` (default a tiny built-in one that runs
 * on ComfyUI's core nodes), and a long job for the checks that must catch a job running (`--long-workflow`,
 * default `ArrakisDelay`, which only comfy-lite has: on a real ComfyUI give a many-step sampler instead).
 * ComfyUI caches node results, so an identical prompt runs in no time: every submission gets a fresh seed
 * (each `seed` / `noise_seed` input) and the built-in jobs a fresh colour, so each one really runs.
 */
import { randomInt } from 'node:crypto';
import { buildRunRequest } from '../cli/run-request.js';
import type { CreateJobRequest } from '../client/index.js';

/** EmptyImage → ImageInvert → SaveImage: core ComfyUI nodes, a fraction of a second on any worker. */
export function tinyWorkflow(color: number): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench' } },
  };
}

/** EmptyImage → ArrakisDelay(seconds) → SaveImage: comfy-lite's interruptible wait. */
export function delayWorkflow(seconds: number, color: number): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench-long' } },
  };
}

export interface BenchJobs {
  /** A fresh request for the job to time (a new seed each call). */
  short(): CreateJobRequest;
  /** A fresh request for the long job. */
  long(): CreateJobRequest;
  /** Whether `long` is the built-in comfy-lite delay (so a 422 means "give --long-workflow"). */
  longIsBuiltIn: boolean;
}

const SEED_INPUTS = new Set(['seed', 'noise_seed']);
const anyColor = (): number => randomInt(0, 0x1000000);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of an API-format workflow with a new random value in every integer seed input. */
export function reseed(workflow: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, node] of Object.entries(workflow)) {
    if (!isObject(node) || !isObject(node.inputs)) {
      out[id] = node;
      continue;
    }
    const inputs: Record<string, unknown> = { ...node.inputs };
    for (const [name, value] of Object.entries(inputs)) {
      if (SEED_INPUTS.has(name) && Number.isInteger(value)) inputs[name] = randomInt(0, 2 ** 32);
    }
    out[id] = { ...node, inputs };
  }
  return out;
}

function factory(request: CreateJobRequest, pool: string | undefined): () => CreateJobRequest {
  return () => {
    const fresh: CreateJobRequest =
      request.workflow !== undefined && isObject(request.workflow)
        ? { ...request, workflow: reseed(request.workflow) }
        : request;
    return pool === undefined ? fresh : { ...fresh, pool };
  };
}

const builtIn = (make: () => Record<string, unknown>, pool: string | undefined) => (): CreateJobRequest =>
  pool === undefined ? { workflow: make() } : { workflow: make(), pool };

/** Builds both requests from the flags (files are read and checked against the API schema here). */
export async function benchJobs(flags: {
  workflow?: string | undefined;
  template?: string | undefined;
  params: readonly string[];
  longWorkflow?: string | undefined;
  pool?: string | undefined;
}): Promise<BenchJobs> {
  const short =
    flags.workflow === undefined && flags.template === undefined
      ? builtIn(() => tinyWorkflow(anyColor()), flags.pool)
      : factory(
          (
            await buildRunRequest(flags.workflow, {
              template: flags.template,
              param: flags.params,
              input: [],
            })
          ).request,
          flags.pool,
        );
  const long =
    flags.longWorkflow === undefined
      ? builtIn(() => delayWorkflow(60, anyColor()), flags.pool)
      : factory((await buildRunRequest(flags.longWorkflow, { param: [], input: [] })).request, flags.pool);
  return { short, long, longIsBuiltIn: flags.longWorkflow === undefined };
}
