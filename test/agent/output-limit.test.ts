/**
 * An output file larger than a worker may store is read from ComfyUI no further than the limit and fails the
 * job `output_store_failed` (not retried, nothing stored), instead of being held whole in the agent's memory.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { runJob } from '../../src/agent/run-job.js';
import { Harness, invertWorkflow, testComfyClient } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

it('fails output_store_failed, once, with nothing stored, when an output passes the limit', async () => {
  h = await Harness.create();
  const lite = await h.startComfy();
  const prompts: unknown[] = [];
  lite.events.on('prompt', (p) => prompts.push(p));
  const channel = new LocalJobChannel({ service: h.service, bus: h.bus });
  await channel.register({ name: 'limited', pool: 'default', comfyUrl: lite.url });
  const admitted = await h.admit(invertWorkflow());
  const job = await channel.claim(1000);
  expect(job?.id).toBe(admitted.id);
  const comfy = testComfyClient(lite.url);
  // The 64×64 PNG is a few hundred bytes: a 16-byte limit refuses it.
  const result = await runJob({ channel, comfy, job: job!, timeoutMs: 10_000, maxOutputBytes: 16 });
  await comfy.close();
  expect(result.outcome).toBe('failed');
  const ended = await h.store.getJob(admitted.id);
  expect(ended).toMatchObject({ status: 'failed', attempts: 1, outputs: [] });
  expect(ended?.error?.code).toBe('output_store_failed');
  expect(ended?.error?.message).toMatch(/is larger than the 16 bytes an output may have/);
  expect(prompts).toHaveLength(1);
  const folder = join(h.dir, 'objects', 'jobs', admitted.id, 'outputs');
  expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
});
