/**
 * The fleet's preloads on a real agent and comfy-lite (`--model-load-ms`, `--cache-lru`): an idle worker asked to
 * preload a model on its disk runs the pool's warm-up made to load it, reports the model resident and counts
 * the load; a job claimed meanwhile stops the preload's prompt (interrupt) instead of waiting for it, and the
 * preload leaves no job row and no output object; a preload whose prompt fails is backed off, then given up.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { ModelKeeper, type PrefetchRetryOptions } from '../../src/agent/model-keeper.js';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { startComfyLite } from '../../src/comfy-lite/server.js';
import { warmupLoading } from '../../src/fleet/warmup-model.js';
import type { Workflow } from '../../src/jobs/types.js';
import type { ModelRef } from '../../src/models/model-refs.js';
import type { ModelLoad } from '../../src/workers/job-channel.js';
import { Harness, testComfyClient } from './harness.js';

let h: Harness | null = null;
let lite: ComfyLiteServer | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  await lite?.close();
  lite = null;
});

const HOT: ModelRef = { kind: 'checkpoint', name: 'hot.safetensors' };
const BASE: ModelRef = { kind: 'checkpoint', name: 'base.safetensors' };
const LOAD_MS = 300;

/** The pool's warm-up: checkpoint → ArrakisSample (`steps` × 100 ms) → SaveImage. */
function warmup(steps: number): Record<string, unknown> {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'base.safetensors' } },
    '2': {
      class_type: 'ArrakisSample',
      inputs: { model: ['1', 0], width: 16, height: 16, steps, seconds_per_step: 0.1, seed: 1 },
    },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'warmup' } },
  };
}

/** A job for `ckpt`: the same loader a preload runs, then a short sample. */
function jobFor(ckpt: string): Workflow {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '2': {
      class_type: 'ArrakisSample',
      inputs: { model: ['1', 0], width: 16, height: 16, steps: 1, seconds_per_step: 0, seed: 7 },
    },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'job' } },
  };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Started {
  workerId: string;
  models: ModelKeeper;
  /** Model-load events of comfy-lite, prompt ends by id, and the loads the agent reported. */
  loads: string[];
  ends: Map<string, string>;
  reported: ModelLoad[];
  warnings: string[];
}

/** comfy-lite with two checkpoints on disk, and an agent whose keeper can preload through `warmupFlow`. */
async function start(
  warmupFlow: Record<string, unknown>,
  retry?: PrefetchRetryOptions,
  vram: { vramModels: number; cacheLru?: number } = { vramModels: 4, cacheLru: 16 },
): Promise<Started> {
  h = await Harness.create();
  const modelsDir = join(h.dir, 'comfy-models');
  await mkdir(join(modelsDir, 'checkpoints'), { recursive: true });
  for (const name of ['base.safetensors', HOT.name]) {
    await writeFile(join(modelsDir, 'checkpoints', name), name);
  }
  lite = await startComfyLite({
    port: 0,
    modelsDir,
    modelLoadMs: LOAD_MS,
    ...(vram.cacheLru === undefined ? {} : { cacheLru: vram.cacheLru }),
  });
  const loads: string[] = [];
  const ends = new Map<string, string>();
  lite.events.on('load', (l: { name: string }) => loads.push(l.name));
  lite.events.on('done', (d: { promptId: string; status: string }) => ends.set(d.promptId, d.status));
  const channel = new LocalJobChannel({ service: h.service, bus: h.bus });
  const reported: ModelLoad[] = [];
  const send = channel.reportModels.bind(channel);
  channel.reportModels = (r) => {
    reported.push(...r.loads);
    return send(r);
  };
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (_d: Record<string, unknown>, msg: string) => warnings.push(msg) };
  const comfy = testComfyClient(lite.url);
  const models = new ModelKeeper({
    channel,
    comfyUrl: lite.url,
    vramModels: vram.vramModels,
    log,
    prefetchRetry: retry,
    preload: { comfy, loading: (ref) => warmupLoading(warmupFlow, ref) },
  });
  const agent = await h.startAgent(lite.url, { channel, comfy, models, log, claimWaitMs: 300 });
  await until('the agent reporting its models', async () => {
    const w = await h!.store.getWorker(agent.workerId!);
    return w?.models?.known === true;
  });
  return { workerId: agent.workerId!, models, loads, ends, reported, warnings };
}

const warmOf = async (workerId: string): Promise<string[]> =>
  (await h!.store.getWorker(workerId))?.models?.warm ?? [];

describe('a fleet preload', () => {
  it('loads a model from the disk of an idle worker, which then reports it resident', async () => {
    const s = await start(warmup(1));
    expect(s.models.preload(HOT)).toBe(true);
    // Asked again while it loads: not a second prompt.
    expect(s.models.preload(HOT)).toBe(false);
    await until('the model reported resident', async () => (await warmOf(s.workerId)).includes(HOT.name));
    expect(s.loads).toEqual([HOT.name]);
    expect(s.reported).toEqual([{ tier: 'disk', seconds: expect.any(Number) }]);
    // Resident: asked again, nothing to do; and a job for it loads nothing.
    expect(s.models.preload(HOT)).toBe(false);
    const job = await h!.admit(jobFor(HOT.name));
    expect((await h!.waitForEnd(job.id)).status).toBe('completed');
    expect(s.loads).toEqual([HOT.name]);
    // The preload made no job row of its own.
    expect(
      (await h!.store.listJobs({ accountId: job.accountId, userId: job.userId, limit: 10 })).jobs.map(
        (j) => j.id,
      ),
    ).toEqual([job.id]);
  });

  it('is interrupted when a job is claimed, leaving no job row or output object', async () => {
    // 100 steps of 100 ms: a job waiting for the whole preload would wait 10 s.
    const s = await start(warmup(100));
    const prompts: string[] = [];
    lite!.events.on('prompt', (p: { promptId: string }) => prompts.push(p.promptId));
    expect(s.models.preload(HOT)).toBe(true);
    await until('the preload sampling', () => s.loads.includes(HOT.name));
    const job = await h!.admit(jobFor('base.safetensors'));
    const done = await h!.waitForEnd(job.id, 8_000);
    expect(done.status).toBe('completed');
    const preloadPrompt = prompts[0]!;
    expect(s.ends.get(preloadPrompt)).toBe('interrupted');
    // Not counted as resident (the prompt did not finish), and no load reported for it.
    expect(await warmOf(s.workerId)).not.toContain(HOT.name);
    expect(s.reported).toEqual([]);
    const jobs = await h!.store.listJobs({ accountId: job.accountId, userId: job.userId, limit: 10 });
    expect(jobs.jobs.map((j) => j.id)).toEqual([job.id]);
    // The object storage holds the job's outputs only.
    const objects = await readdir(join(h!.dir, 'objects'), { recursive: true });
    const files = objects.filter((o) => o.includes('outputs/'));
    expect(files.length).toBeGreaterThan(0);
    expect(files.every((o) => o.startsWith(`jobs/${job.id}/`))).toBe(true);
  });

  it('once started on a full worker, no longer reports the model its prompt displaced', async () => {
    // ComfyUI's classic cache (one model resident): a prompt that starts drops the loaders it does not use.
    const s = await start(warmup(100), undefined, { vramModels: 1 });
    const first = await h!.admit(jobFor('base.safetensors'), [], 'user-1', [BASE]);
    expect((await h!.waitForEnd(first.id)).status).toBe('completed');
    await until('base reported resident', async () =>
      (await warmOf(s.workerId)).includes('base.safetensors'),
    );
    expect(s.models.preload(HOT)).toBe(true);
    await until('the preload loading', () => s.loads.includes(HOT.name));
    // base.safetensors is no longer resident: the worker says so while the preload runs.
    await until('base no longer reported resident', async () => (await warmOf(s.workerId)).length === 0);
    const job = await h!.admit(jobFor('base.safetensors'), [], 'user-1', [BASE]);
    expect((await h!.waitForEnd(job.id, 8_000)).status).toBe('completed');
    // The job loaded its model again, and that load is counted (a disk load, not a resident hit).
    expect(s.loads).toEqual(['base.safetensors', HOT.name, 'base.safetensors']);
    await until("the job's load reported", () => s.reported.length >= 2);
    expect(s.reported).toEqual([
      { tier: 'disk', seconds: expect.any(Number) },
      { tier: 'disk', seconds: expect.any(Number) },
    ]);
    await until('base resident again', async () => (await warmOf(s.workerId)).includes('base.safetensors'));
  });

  it('is backed off when its prompt fails, then given up and reported refused', async () => {
    // A warm-up whose sampler is refused by ComfyUI: every preload prompt fails.
    const broken = warmup(1);
    broken['2'] = { class_type: 'ArrakisSample', inputs: { model: ['1', 0], width: 16, height: 16 } };
    const s = await start(broken, { tries: 2, backoff: { minMs: 300, maxMs: 1_000 }, giveUpMs: 60_000 });
    expect(s.models.preload(HOT)).toBe(true);
    await until('the first failure', () => s.warnings.length > 0);
    // Backing off: the fleet's repeated ask is not taken.
    expect(s.models.preload(HOT)).toBe(false);
    await until('the backoff over', () => s.models.preload(HOT), 5_000);
    await until('given up', () => s.models.preloadRefused().includes(HOT.name));
    expect(s.models.preload(HOT)).toBe(false);
    expect(s.warnings).toEqual([
      expect.stringMatching(/preloading model file "hot.safetensors" failed; retrying/),
      expect.stringMatching(/gave up preloading/),
    ]);
    expect(await warmOf(s.workerId)).not.toContain(HOT.name);
  });

  it('counts no failure for a preload it stopped, even when ComfyUI is gone by then', async () => {
    const s = await start(warmup(100));
    expect(s.models.preload(HOT)).toBe(true);
    await until('the preload sampling', () => s.loads.includes(HOT.name));
    await lite!.close();
    lite = null;
    // The agent stops (or a job arrives): the stop's interrupt cannot reach ComfyUI, and the prompt's follower
    // gives up on it; that is the stop's end, not a failed preload to back off from.
    await s.models.stop();
    expect(s.warnings.filter((w) => /preload/.test(w))).toEqual([]);
  });

  it('cannot preload a model whose kind the warm-up does not load', async () => {
    const s = await start(warmup(1));
    expect(s.models.preload({ kind: 'unet', name: 'u.safetensors' })).toBe(false);
  });
});
