import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAgent } from './local-agent.js';
import type { Job, Workflow } from '../../src/jobs/types.js';
import { ComfyUnavailableError, type ComfyOutputFile, type ComfyServer } from '../../src/comfy/contract.js';
import { Harness, delayWorkflow, invertWorkflow, testComfyClient } from './harness.js';
import { createComfyServer } from '../../src/comfy/http-client.js';
import { startComfyProxy } from '../comfy/comfy-proxy.js';

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.close();
});

async function firstPixel(job: Job, index = 0): Promise<number[]> {
  const output = job.outputs[index];
  if (output === undefined) throw new Error(`job ${job.id} has no output ${index}`);
  const stored = await h.storage.get(output.objectKey);
  if (stored === null) throw new Error(`output ${output.objectKey} is not in storage`);
  const { data } = await sharp(await buffer(stored.body))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return [...data.subarray(0, 3)];
}

describe('agent on comfy-lite (in-process channel)', () => {
  it('runs EmptyImage → ImageInvert → SaveImage and stores the inverted PNG under the job', async () => {
    const lite = await h.startComfy();
    const { agent, close } = createLocalAgent({
      store: h.store,
      storage: h.storage,
      bus: h.bus,
      leaseMs: 3000,
      maxAttempts: 3,
      comfyUrl: lite.url,
      name: 'local-1',
      pool: 'default',
    });
    await agent.start();
    const job = await h.admit(invertWorkflow());
    const done = await h.waitForEnd(job.id).finally(close);
    expect(done.workerId).toBe(agent.workerId);
    expect(done.status).toBe('completed');
    expect(done.outputs).toHaveLength(1);
    const out = done.outputs[0];
    expect(out?.objectKey).toMatch(new RegExp(`^jobs/${job.id}/outputs/1\\.0-invert_\\d+_\\.png$`));
    expect(out?.contentType).toBe('image/png');
    expect(out?.nodeId).toBe('3');
    // 16 inverted in float then truncated: 238 or 239 (comfyui-protocol.md).
    for (const channel of await firstPixel(done)) expect([238, 239]).toContain(channel);
  });

  it('loads a stored input with LoadImage and never lets the workflow name another file', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url);
    const png = await sharp({
      create: { width: 4, height: 4, channels: 3, background: { r: 200, g: 200, b: 200 } },
    })
      .png()
      .toBuffer();
    const stored = await h.storage.put('inputs/in_1/photo.png', png, 'image/png');
    const inputs = [
      {
        name: 'photo',
        filename: 'photo.png',
        contentType: 'image/png',
        size: png.length,
        objectKey: stored.key,
      },
    ];
    const workflow: Workflow = {
      '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'loaded' } },
    };
    const ok = await h.waitForEnd((await h.admit(workflow, inputs)).id);
    expect(ok.status).toBe('completed');
    // 255 - 200 = 55, give or take float truncation.
    for (const channel of await firstPixel(ok)) expect([54, 55]).toContain(channel);
    // The upload landed in this job's own subfolder of ComfyUI's input folder.
    expect(existsSync(join(lite.dataDir, 'input', 'arrakis', ok.id, 'photo.png'))).toBe(true);

    const escape = structuredClone(workflow);
    escape['1'] = { class_type: 'LoadImage', inputs: { image: `../input/arrakis/${ok.id}/photo.png` } };
    const refused = await h.waitForEnd((await h.admit(escape, inputs)).id);
    expect(refused.status).toBe('failed');
    expect(refused.error?.code).toBe('workflow_invalid');
    expect(refused.error?.nodeId).toBe('1');
  });

  it('relays progress while a node runs, as job events and on the job', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url, { progressIntervalMs: 50 });
    const job = await h.admit(delayWorkflow(0.4));
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    const progress = (await h.store.listJobEvents(job.id, 0)).filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    // Throttled (≤ one per 50 ms over a 0.4 s node) but the last step always arrives.
    expect(progress.length).toBeLessThanOrEqual(12);
    // The stepping node's steps arrive with its class (throttled: not every step); the prompt's end is the
    // last progress (fraction 1), which may replace the last step.
    expect(progress.map((e) => e.data)).toContainEqual(
      expect.objectContaining({ max: 8, node: '2', class_type: 'ArrakisDelay' }),
    );
    expect(progress.at(-1)?.data).toMatchObject({ node: null, fraction: 1 });
    expect(done.progress).toMatchObject({ fraction: 1 });
  });

  // Issue 13 item 6: progress was { value, max, node }, starting over at every node.
  it('gives progress the node class and a whole-prompt fraction that only grows; cached nodes count done', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url, { progressIntervalMs: 0 });
    const first = await h.waitForEnd((await h.admit(delayWorkflow(0.3))).id);
    expect(first.status).toBe('completed');
    const progress = (await h.store.listJobEvents(first.id, 0))
      .filter((e) => e.type === 'progress')
      .map((e) => e.data as { node: string | null; class_type: string | null; fraction: number });
    const fractions = progress.map((p) => p.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(progress.find((p) => p.node === '1')?.class_type).toBe('EmptyImage');
    // ArrakisDelay halfway: EmptyImage (1 of 3 equal weights) done, so strictly between 1/3 and 2/3.
    expect(fractions.some((f) => f > 1 / 3 && f < 2 / 3)).toBe(true);
    expect(fractions.at(-1)).toBe(1);
    // A re-run with only the saver's prefix changed: EmptyImage and ArrakisDelay come from ComfyUI's cache.
    const again = delayWorkflow(0.3);
    again['3']!.inputs.filename_prefix = 'again';
    const second = await h.waitForEnd((await h.admit(again)).id);
    const firstOfSecond = (await h.store.listJobEvents(second.id, 0)).find((e) => e.type === 'progress');
    expect(firstOfSecond?.data).toMatchObject({ fraction: expect.any(Number) });
    expect((firstOfSecond?.data as { fraction: number }).fraction).toBeGreaterThanOrEqual(2 / 3 - 0.001);
  });

  // Issue 13 item 5: a PreviewImage output came first, and the last progress arrived after the outputs.
  it('lists saved outputs before previews, marks previews temp, and relays the last progress before outputs', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url, { progressIntervalMs: 1000 });
    const workflow: Workflow = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'saved' } },
    };
    const done = await h.waitForEnd((await h.admit(workflow)).id);
    expect(done.status).toBe('completed');
    expect(done.outputs.map((o) => [o.nodeId, o.type])).toEqual([
      ['3', 'output'],
      ['2', 'temp'],
    ]);
    const events = await h.store.listJobEvents(done.id, 0);
    const types = events.map((e) => e.type);
    expect(types.lastIndexOf('progress')).toBeLessThan(types.indexOf('output'));
    const outputs = events.filter((e) => e.type === 'output').map((e) => e.data);
    expect(outputs).toEqual([
      expect.objectContaining({
        index: 0,
        node_id: '3',
        type: 'output',
        url: `/v1/jobs/${done.id}/outputs/0`,
      }),
      expect.objectContaining({ index: 1, node_id: '2', type: 'temp', url: `/v1/jobs/${done.id}/outputs/1` }),
    ]);
  });

  // Issue 13 item 2: the job error said only "ComfyUI rejected the prompt: … (nodes 1)".
  it("fails a prompt ComfyUI refuses with ComfyUI's node, class, input and reason", async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url);
    const workflow: Workflow = {
      '1': { class_type: 'EmptyImage', inputs: { width: 'abc', height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
    };
    const done = await h.waitForEnd((await h.admit(workflow)).id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'workflow_invalid', nodeId: '1' });
    expect(done.error?.message).toContain(
      'node 1 (EmptyImage) input "width": Failed to convert an input value to a INT value: width, abc',
    );
    expect(done.error?.details).toEqual([
      {
        nodeId: '1',
        classType: 'EmptyImage',
        input: 'width',
        message:
          "Failed to convert an input value to a INT value: width, abc, invalid literal for int() with base 10: 'abc'",
      },
    ]);
    // The `done` event carries the error as the job JSON shows it (snake_case: it said `nodeId` before).
    const end = (await h.store.listJobEvents(done.id, 0)).find((e) => e.type === 'done');
    expect(end?.data.error).toMatchObject({
      code: 'workflow_invalid',
      node_id: '1',
      details: [{ node_id: '1', class_type: 'EmptyImage', input: 'width' }],
    });
    expect(end?.data.error).not.toHaveProperty('nodeId');
  });

  it('fails with execution_error and the node id when a node raises', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url);
    const workflow = invertWorkflow();
    workflow['2'] = { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 20, sigma: 1 } };
    const done = await h.waitForEnd((await h.admit(workflow)).id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('execution_error');
    expect(done.error?.nodeId).toBe('2');
    expect(done.error?.message).toMatch(/Padding size/);
  });

  it('fails workflow_invalid with the node id when ComfyUI rejects the prompt', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url);
    const workflow = invertWorkflow();
    workflow['2'] = { class_type: 'NoSuchNode', inputs: { image: ['1', 0] } };
    const done = await h.waitForEnd((await h.admit(workflow)).id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('workflow_invalid');
    expect(done.error?.nodeId).toBe('2');
  });

  it('never sends a prompt when /object_info cannot be read: the file-input re-check fails closed', async () => {
    const lite = await h.startComfy();
    const real = testComfyClient(lite.url);
    let prompts = 0;
    // ComfyUI answers everything but /object_info: without its catalog the worker cannot tell a custom node's
    // file inputs, so the job must go back (and end worker_lost once its attempts are spent), never run.
    const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
      nodeCatalog: () => Promise.reject(new ComfyUnavailableError('GET object_info answered 500')),
      runPrompt: (...args: Parameters<ComfyServer['runPrompt']>) => {
        prompts++;
        return real.runPrompt(...args);
      },
    });
    await h.startAgent(lite.url, { comfy });
    const done = await h.waitForEnd((await h.admit(invertWorkflow())).id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('worker_lost');
    expect(prompts).toBe(0);
  });

  it('downloads the outputs an executed frame names while the end is still being confirmed, once', async () => {
    const lite = await h.startComfy();
    const real = testComfyClient(lite.url);
    const steps: string[] = [];
    const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
      runPrompt: async (...args: Parameters<ComfyServer['runPrompt']>) => {
        const outcome = await real.runPrompt(...args);
        // A slow confirmation (the history read of a busy ComfyUI): every frame has arrived by then.
        await new Promise((resolve) => setTimeout(resolve, 200));
        steps.push('outcome');
        return outcome;
      },
      download: (file: ComfyOutputFile) => {
        steps.push(`download ${file.filename}`);
        return real.download(file);
      },
    });
    await h.startAgent(lite.url, { comfy });
    const job = await h.admit(invertWorkflow('early'));
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(steps).toEqual(['download early_00001_.png', 'outcome']);
    const stored = await h.storage.get(done.outputs[0]!.objectKey);
    const file = readFileSync(join(lite.dataDir, 'output', 'arrakis', job.id, 'early_00001_.png'));
    expect((await buffer(stored!.body)).equals(file)).toBe(true);
  });

  it('stores only what history lists: a file a frame names that history does not is never stored', async () => {
    const lite = await h.startComfy();
    const real = testComfyClient(lite.url);
    const fetched: string[] = [];
    const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
      runPrompt: async (...[workflow, options]: Parameters<ComfyServer['runPrompt']>) => {
        // A frame naming a file of no output of this prompt (history is the only list that counts).
        const stray = { nodeId: '3', filename: 'stray.png', subfolder: '', type: 'output' } as const;
        options.onNode?.({ kind: 'executed', node: '3', files: [stray] });
        return await real.runPrompt(workflow, options);
      },
      download: (file: ComfyOutputFile) => {
        fetched.push(file.filename);
        // The first download of each file fails: the prefetch's failure leaves it to a fresh download.
        if (fetched.filter((f) => f === file.filename).length === 1) {
          return Promise.reject(new Error('connection reset'));
        }
        return real.download(file);
      },
    });
    await h.startAgent(lite.url, { comfy });
    const job = await h.admit(invertWorkflow('listed'));
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(done.outputs.map((o) => o.filename)).toEqual(['listed_00001_.png']);
    expect(fetched.filter((f) => f === 'listed_00001_.png')).toHaveLength(2);
    const stored = await h.storage.get(done.outputs[0]!.objectKey);
    const file = readFileSync(join(lite.dataDir, 'output', 'arrakis', job.id, 'listed_00001_.png'));
    expect((await buffer(stored!.body)).equals(file)).toBe(true);
  });

  it('starts no further prefetch once the job is cancelled', async () => {
    const lite = await h.startComfy();
    const real = testComfyClient(lite.url);
    const fetched: string[] = [];
    let stopped: AbortSignal | undefined;
    const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
      runPrompt: (...[workflow, options]: Parameters<ComfyServer['runPrompt']>) => {
        stopped = options.signal;
        return real.runPrompt(workflow, options);
      },
      download: async (file: ComfyOutputFile) => {
        fetched.push(file.filename);
        // The first file's download is slow: it ends only once the cancel has stopped the run.
        if (fetched.length === 1 && stopped?.aborted !== true) {
          await new Promise((resolve) => stopped?.addEventListener('abort', resolve, { once: true }));
        }
        return await real.download(file);
      },
    });
    await h.startAgent(lite.url, { comfy });
    const workflow = invertWorkflow('pair');
    workflow['1']!.inputs.batch_size = 2;
    const job = await h.admit(workflow);
    await h.waitFor(job.id, () => fetched.length > 0);
    await h.cancel(job);
    const done = await h.waitForEnd(job.id);
    expect(done.status).toBe('cancelled');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The second file, queued behind the first, was not downloaded for a job that no longer runs.
    expect(fetched).toEqual(['pair_00001_.png']);
  });

  it('ends an input upload ComfyUI stalls on as soon as the job is cancelled', async () => {
    const lite = await h.startComfy();
    const proxy = await startComfyProxy(lite.url);
    h.onClose(() => proxy.close());
    proxy.stall = (method, path) => method === 'POST' && path === '/upload/image';
    // The upload's own bounds are far off (30 s for the answer): only the job's stop can end it in time.
    const comfy = createComfyServer(proxy.url, {
      historyPollMs: 50,
      unreachableGraceMs: 600,
      requestTimeoutMs: 30_000,
      reconnect: { maxAttempts: 3, baseMs: 50 },
    });
    await h.startAgent(proxy.url, { comfy });
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const stored = await h.storage.put('inputs/in_stall/photo.png', png, 'image/png');
    const input = { name: 'photo', filename: 'photo.png', contentType: 'image/png', size: png.length };
    const workflow: Workflow = {
      '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'stalled' } },
    };
    const job = await h.admit(workflow, [{ ...input, objectKey: stored.key }]);
    await h.waitFor(job.id, () => proxy.requests.some((r) => r.path === '/upload/image'));
    await h.cancel(job);
    const done = await h.waitForEnd(job.id, 5_000);
    expect(done.status).toBe('cancelled');
    // The upload was ended (its connection closed), not left to run behind the cancelled job.
    await expect.poll(() => proxy.stalledClosed).toEqual(['/upload/image']);
    expect(proxy.requests.map((r) => r.path)).not.toContain('/prompt');
  });

  it("ends an output download still arriving when the job's timeout fires (fails `timeout`)", async () => {
    const lite = await h.startComfy();
    const real = testComfyClient(lite.url);
    const aborted: string[] = [];
    const comfy: ComfyServer = Object.assign(Object.create(real) as ComfyServer, {
      // A download whose bytes keep coming (a video on a slow link): ComfyHttp does not cut it off, the job's
      // own stop must.
      download: (file: ComfyOutputFile, signal?: AbortSignal) =>
        new Promise<Buffer>((_resolve, reject) => {
          signal?.addEventListener('abort', () => {
            aborted.push(file.filename);
            reject(new ComfyUnavailableError(`GET /view ${file.filename} failed: aborted`));
          });
        }),
    });
    await h.startAgent(lite.url, { comfy, jobTimeoutMs: 1000 });
    const job = await h.admit(invertWorkflow('slow'));
    const done = await h.waitForEnd(job.id, 5000);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('timeout');
    expect(aborted).toContain('slow_00001_.png');
  });

  it('gives identical workflows their own runs and their own output files', async () => {
    const lite = await h.startComfy();
    await h.startAgent(lite.url);
    const a = await h.admit(invertWorkflow('same'));
    const b = await h.admit(invertWorkflow('same'));
    const [doneA, doneB] = await Promise.all([h.waitForEnd(a.id), h.waitForEnd(b.id)]);
    expect(doneA.status).toBe('completed');
    expect(doneB.status).toBe('completed');
    expect(doneA.outputs[0]?.objectKey).not.toBe(doneB.outputs[0]?.objectKey);
    // Both really ran: ComfyUI's node cache would otherwise hand the second job the first one's file.
    for (const job of [doneA, doneB]) {
      expect(existsSync(join(lite.dataDir, 'output', 'arrakis', job.id, 'same_00001_.png'))).toBe(true);
    }
  });
});
