/**
 * A node whose UI output names another job's file (here comfy-lite's test-only ArrakisEchoFile, started with
 * `testOnlyNodes` and allowlisted as a custom node would be) never gets that file stored as this job's output: the
 * agent stores only files under the job's own `arrakis/<jobId>/` output folder, logs each refused file once, and
 * fails `output_refused` when nothing else is left.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { runJob } from '../../src/agent/run-job.js';
import type { AgentLog } from '../../src/agent/agent-log.js';
import type { Workflow } from '../../src/jobs/types.js';
import { Harness, invertWorkflow, testComfyClient } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

function echo(filename: string, subfolder: string, folderType = 'output') {
  return { class_type: 'ArrakisEchoFile', inputs: { filename, subfolder, folder_type: folderType } };
}

function storedFiles(jobId: string): string[] {
  const folder = join(h!.dir, 'objects', 'jobs', jobId, 'outputs');
  return existsSync(folder) ? readdirSync(folder) : [];
}

it("never stores another job's output file a node names, and still stores the job's own", async () => {
  h = await Harness.create();
  const lite = await h.startComfy({ testOnlyNodes: true });
  const channel = new LocalJobChannel({ service: h.service, bus: h.bus });
  await channel.register({ name: 'confined', pool: 'default', comfyUrl: lite.url });
  const comfy = testComfyClient(lite.url);
  const warnings: Array<Record<string, unknown>> = [];
  const log: AgentLog = { info: () => {}, warn: (details) => warnings.push(details) };
  const run = async (workflow: Workflow) => {
    const admitted = await h!.admit(workflow);
    const job = await channel.claim(1000);
    expect(job?.id).toBe(admitted.id);
    // The account allowlisted the echo node for its file input, as it would a custom node.
    const leased = { ...job!, fileNodeAllowlist: ['ArrakisEchoFile'] };
    const result = await runJob({ channel, comfy, job: leased, timeoutMs: 10_000, log });
    return { result, ended: (await h!.store.getJob(admitted.id))! };
  };
  try {
    // Another tenant's job writes its image under arrakis/<its id>/.
    const victim = await run(invertWorkflow('secret'));
    expect(victim.result.outcome).toBe('completed');
    const secretName = victim.ended.outputs[0]!.filename;
    const secretBytes = readFileSync(join(lite.dataDir, 'output', 'arrakis', victim.ended.id, secretName));

    // This job saves its own image and names the other job's file three ways.
    const thief = await run({
      ...invertWorkflow('mine'),
      '4': echo(secretName, `arrakis/${victim.ended.id}`),
      '5': echo(secretName, `arrakis/x/../${victim.ended.id}`),
      '6': echo(`${secretName} [output]`, `arrakis/${victim.ended.id}`, 'temp'),
    });
    expect(thief.result.outcome).toBe('completed');
    expect(thief.ended.outputs.map((o) => [o.nodeId, o.type])).toEqual([['3', 'output']]);
    expect(thief.ended.outputs[0]!.filename).toMatch(/^mine_\d+_\.png$/);
    const keys = storedFiles(thief.ended.id);
    expect(keys).toHaveLength(1);
    for (const o of thief.ended.outputs) {
      const bytes = await buffer((await h.storage.get(o.objectKey))!.body);
      expect(bytes.equals(secretBytes)).toBe(false);
    }
    // One warning per refused file, though both the `executed` frame and history named it.
    const refused = warnings.filter((w) => w.jobId === thief.ended.id && 'reason' in w);
    expect(refused.map((w) => [w.nodeId, w.type, w.subfolder, w.filename])).toEqual([
      ['4', 'output', `arrakis/${victim.ended.id}`, secretName],
      ['5', 'output', `arrakis/x/../${victim.ended.id}`, secretName],
      ['6', 'output', `arrakis/${victim.ended.id}`, `${secretName} [output]`],
    ]);

    // A job whose only file is refused fails with the reason instead of completing with nothing.
    const only = await run({ '1': echo(secretName, `arrakis/${victim.ended.id}`) });
    expect(only.result.outcome).toBe('failed');
    expect(only.ended).toMatchObject({ status: 'failed', outputs: [] });
    expect(only.ended.error).toMatchObject({ code: 'output_refused', nodeId: '1' });
    expect(storedFiles(only.ended.id)).toEqual([]);
  } finally {
    await comfy.close();
  }
});

it("never stores a temp file in another job's arrakis folder (a saver writing its rewritten prefix to temp)", async () => {
  h = await Harness.create();
  const lite = await h.startComfy({ testOnlyNodes: true });
  const channel = new LocalJobChannel({ service: h.service, bus: h.bus });
  await channel.register({ name: 'confined-temp', pool: 'default', comfyUrl: lite.url });
  const comfy = testComfyClient(lite.url);
  const log: AgentLog = { info: () => {}, warn: () => {} };
  try {
    // VideoHelperSuite's VideoCombine with save_output off writes another job's video to temp/arrakis/<its id>/.
    const victimId = 'job_01victimvictimvictimvict';
    mkdirSync(join(lite.dataDir, 'temp', 'arrakis', victimId), { recursive: true });
    writeFileSync(join(lite.dataDir, 'temp', 'arrakis', victimId, 'clip_00001.mp4'), 'another tenant');
    const admitted = await h.admit({ '1': echo('clip_00001.mp4', `arrakis/${victimId}`, 'temp') });
    const job = await channel.claim(1000);
    expect(job?.id).toBe(admitted.id);
    const leased = { ...job!, fileNodeAllowlist: ['ArrakisEchoFile'] };
    const result = await runJob({ channel, comfy, job: leased, timeoutMs: 10_000, log });
    expect(result.outcome).toBe('failed');
    const ended = (await h.store.getJob(admitted.id))!;
    expect(ended).toMatchObject({ status: 'failed', outputs: [] });
    expect(ended.error).toMatchObject({ code: 'output_refused', nodeId: '1' });
    expect(storedFiles(ended.id)).toEqual([]);
  } finally {
    await comfy.close();
  }
});
