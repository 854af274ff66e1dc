/**
 * Outputs are stored while the prompt still runs (as soon as an `executed` frame names them) and reported in
 * the completion's one commit: when ComfyUI's outcome is known the bytes are already in storage and no
 * `output` event exists yet; a job that fails or is cancelled after a file was stored lists no output and
 * its stored file is deleted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ComfyServer, PromptOutcome } from '../../src/comfy/contract.js';
import type { Job } from '../../src/jobs/types.js';
import { Harness, invertWorkflow, testComfyClient } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.close();
});

/** Resolves once `check` holds (polling), or throws after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether storage holds `key` (the stream it opened is closed at once). */
async function stored(key: string): Promise<boolean> {
  const found = await h.storage.get(key);
  found?.body.destroy();
  return found !== null;
}

/** The key the agent's first stored file of the job's first attempt gets. */
function firstKey(job: Job, prefix: string): string {
  return `jobs/${job.id}/outputs/1.0-${prefix}_00001_.png`;
}

interface Held {
  comfy: ComfyServer;
  /** Resolves with the job's id once ComfyUI's real outcome is in and the test may decide what follows. */
  outcome: Promise<void>;
  /** The outcome the agent sees (default: the real one). */
  answer: (make: (real: PromptOutcome) => Promise<PromptOutcome>) => void;
}

/** A ComfyUI client that holds the prompt's outcome until the test answers it. */
function heldComfy(url: string): Held {
  const real = testComfyClient(url);
  let reached!: () => void;
  const outcome = new Promise<void>((resolve) => (reached = resolve));
  let decide!: (make: (real: PromptOutcome) => Promise<PromptOutcome>) => void;
  const decided = new Promise<(real: PromptOutcome) => Promise<PromptOutcome>>(
    (resolve) => (decide = resolve),
  );
  const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
    runPrompt: async (...args: Parameters<ComfyServer['runPrompt']>) => {
      const result = await real.runPrompt(...args);
      reached();
      return await (
        await decided
      )(result);
    },
  });
  return { comfy, outcome, answer: decide };
}

describe('outputs stored before the outcome', () => {
  it('holds the bytes in storage before the outcome is known and announces them only with done', async () => {
    const lite = await h.startComfy();
    const held = heldComfy(lite.url);
    const appended = vi.spyOn(h.store, 'appendJobEvent');
    await h.startAgent(lite.url, { comfy: held.comfy });
    const job = await h.admit(invertWorkflow('early'));
    await held.outcome;
    // The outcome is not yet reported: the file is stored, nothing announces it.
    await until('the early store', () => stored(firstKey(job, 'early')));
    expect((await h.store.listJobEvents(job.id, 0)).map((e) => e.type)).not.toContain('output');
    held.answer(async (real) => real);
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(done.outputs.map((o) => o.objectKey)).toEqual([firstKey(job, 'early')]);
    const object = await h.storage.get(firstKey(job, 'early'));
    const file = readFileSync(join(lite.dataDir, 'output', 'arrakis', job.id, 'early_00001_.png'));
    expect((await buffer(object!.body)).equals(file)).toBe(true);
    // The output event and done came from the completion (one commit), never from an append of its own.
    expect(appended.mock.calls.filter((c) => c[1] === 'output')).toEqual([]);
    const events = await h.store.listJobEvents(job.id, 0);
    const output = events.find((e) => e.type === 'output');
    const doneEvent = events.find((e) => e.type === 'done');
    expect(output?.seq).toBe(doneEvent!.seq - 1);
    expect(output?.data).toMatchObject({ index: 0, url: `/v1/jobs/${job.id}/outputs/0` });
  });

  it('a file history lists twice is two outputs, each its own stored object (the completion is not refused)', async () => {
    const lite = await h.startComfy();
    const held = heldComfy(lite.url);
    await h.startAgent(lite.url, { comfy: held.comfy });
    const job = await h.admit(invertWorkflow('twice'));
    await held.outcome;
    held.answer(async (real) =>
      real.kind === 'success' ? { ...real, outputs: [...real.outputs, ...real.outputs] } : real,
    );
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(done.attempts).toBe(1);
    const keys = done.outputs.map((o) => o.objectKey);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    const file = readFileSync(join(lite.dataDir, 'output', 'arrakis', job.id, 'twice_00001_.png'));
    for (const key of keys) expect((await buffer((await h.storage.get(key))!.body)).equals(file)).toBe(true);
  });

  it('a job that fails after an output was stored lists no output, and its stored file is deleted', async () => {
    const lite = await h.startComfy();
    const held = heldComfy(lite.url);
    await h.startAgent(lite.url, { comfy: held.comfy });
    const job = await h.admit(invertWorkflow('failing'));
    await held.outcome;
    await until('the early store', () => stored(firstKey(job, 'failing')));
    held.answer(async () => ({
      kind: 'error',
      message: 'out of memory',
      nodeId: '3',
      nodeType: 'SaveImage',
    }));
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('execution_error');
    expect(done.outputs).toEqual([]);
    expect((await h.store.listJobEvents(job.id, 0)).map((e) => e.type)).not.toContain('output');
    // Deleted right after the terminal commit (the report's answer waits for it).
    await until('the deletion', async () => !(await stored(firstKey(job, 'failing'))));
  });

  it('a job cancelled after an output was stored lists no output, and its stored file is deleted', async () => {
    const lite = await h.startComfy();
    const held = heldComfy(lite.url);
    await h.startAgent(lite.url, { comfy: held.comfy });
    const job = await h.admit(invertWorkflow('cancelled'));
    await held.outcome;
    await until('the early store', () => stored(firstKey(job, 'cancelled')));
    await h.cancel(job);
    // The prompt had ended: the agent learns of the cancel, then sees the outcome.
    held.answer(async (real) => {
      await until('the cancel', async () => (await h.store.getJob(job.id))?.cancelRequested === true);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return real;
    });
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('cancelled');
    expect(done.outputs).toEqual([]);
    expect((await h.store.listJobEvents(job.id, 0)).map((e) => e.type)).not.toContain('output');
    // Deleted right after the terminal commit (the report's answer waits for it).
    await until('the deletion', async () => !(await stored(firstKey(job, 'cancelled'))));
  });
});
