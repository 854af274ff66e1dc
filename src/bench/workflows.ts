/**
 * The jobs the battery submits: the user's `--workflow` / `--template` (default a tiny built-in one that runs
 * on ComfyUI's core nodes), and a long job for the checks that must catch a job running (`--long-workflow`,
 * default `ArrakisDelay`, which only comfy-lite has: on a real ComfyUI give a many-step sampler instead).
 */
import { buildRunRequest } from '../cli/run-request.js';
import type { CreateJobRequest } from '../client/index.js';

/** EmptyImage → ImageInvert → SaveImage: core ComfyUI nodes, a fraction of a second on any worker. */
export function tinyWorkflow(): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0x336699 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench' } },
  };
}

/** EmptyImage → ArrakisDelay(seconds) → SaveImage: comfy-lite's interruptible wait. */
export function delayWorkflow(seconds: number): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench-long' } },
  };
}

export interface BenchJobs {
  short: CreateJobRequest;
  long: CreateJobRequest;
  /** Whether `long` is the built-in comfy-lite delay (so a 422 means "give --long-workflow"). */
  longIsBuiltIn: boolean;
}

function withPool(request: CreateJobRequest, pool: string | undefined): CreateJobRequest {
  return pool === undefined ? request : { ...request, pool };
}

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
      ? { workflow: tinyWorkflow() }
      : (await buildRunRequest(flags.workflow, { template: flags.template, param: flags.params, input: [] }))
          .request;
  const long =
    flags.longWorkflow === undefined
      ? { workflow: delayWorkflow(60) }
      : (await buildRunRequest(flags.longWorkflow, { param: [], input: [] })).request;
  return {
    short: withPool(short, flags.pool),
    long: withPool(long, flags.pool),
    longIsBuiltIn: flags.longWorkflow === undefined,
  };
}
