/**
 * Tenant isolation of files, end to end: serve with a comfy-lite worker whose LoadImageOutput and
 * LoadImageSetFromFolderNode behave like real ComfyUI (test/comfy-lite/file-loaders.test.ts shows these very
 * attacks read the victim's files when nothing refuses them). Through the HTTP API every attack answers 422
 * workflow_invalid naming the node and input, creates no job, and no prompt ever reaches the worker.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import type { Workflow } from '../../src/jobs/types.js';
import {
  client,
  createTenant,
  isTerminal,
  loadInvertWorkflow,
  solidPng,
  startTestServer,
  waitForJob,
  type TestServer,
  type Tenant,
} from '../support/server.js';

let root: string;
let lite: ComfyLiteServer;
let server: TestServer;
let victim: Tenant;
let attacker: Tenant;
let victimJob: string;

const limits = { max_active_jobs_per_user: 50, submit_rate_per_user: 1000, submit_burst_per_user: 1000 };

/** Prompts comfy-lite has seen (its /history), as JSON text. */
async function promptsSeen(): Promise<string> {
  return JSON.stringify(await (await fetch(`${lite.url}/history`)).json());
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'arrakis-files-'));
  lite = await startComfyLite({ port: 0, dataDir: join(root, 'comfy') });
  server = await startTestServer({ settings: { comfyui: [lite.url] } });
  victim = await createTenant(server, { limits });
  attacker = await createTenant(server, { limits });
  // Wait until the worker has described its nodes (/object_info), so every source of file inputs is in play.
  // A user of its own: a probe admitted before that (a loaded machine) must not show in mallory's job list.
  const probe = client(server, attacker.key, 'probe');
  for (let i = 0; ; i++) {
    const r = await probe.submit({ workflow: { '1': { class_type: 'NoSuchNode', inputs: {} } } });
    if (JSON.stringify(r.body).includes('unknown node type')) break;
    if (i > 400) throw new Error('the worker never reported its node types');
    await new Promise((res) => setTimeout(res, 25));
  }
  // The victim's job leaves an input and an output in ComfyUI's shared folders.
  const v = client(server, victim.key, 'alice');
  const r = await v.submit({
    workflow: loadInvertWorkflow('private'),
    inputs: {
      private: { base64: (await solidPng(4, 4, [1, 2, 3])).toString('base64'), filename: 'private.png' },
    },
  });
  expect(r.status).toBe(202);
  victimJob = r.body.id;
  expect((await waitForJob(v, victimJob, isTerminal)).status).toBe('completed');
  expect(existsSync(join(lite.dataDir, 'output', 'arrakis', victimJob, 'x_00001_.png'))).toBe(true);
  expect(existsSync(join(lite.dataDir, 'input', 'arrakis', victimJob, 'private.png'))).toBe(true);
});
afterAll(async () => {
  await server.close();
  await lite.close();
  await rm(root, { recursive: true, force: true });
});

function stealWith(loader: Workflow[string]): Workflow {
  return {
    '5': loader,
    '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: 'stolen' } },
  };
}

describe('file-reading nodes through the API', () => {
  it('refuses every LoadImageOutput / folder / ../ / absolute-path attack with 422, and reads nothing', async () => {
    const before = await promptsSeen();
    const absolute = join(lite.dataDir, 'output', 'arrakis', victimJob, 'x_00001_.png');
    const attacks: Array<[Workflow[string], string]> = [
      [
        { class_type: 'LoadImageOutput', inputs: { image: `arrakis/${victimJob}/x_00001_.png [output]` } },
        'image',
      ],
      [
        {
          class_type: 'LoadImageOutput',
          inputs: { image: `../input/arrakis/${victimJob}/private.png [output]` },
        },
        'image',
      ],
      [{ class_type: 'LoadImageOutput', inputs: { image: `${absolute} [output]` } }, 'image'],
      [
        {
          class_type: 'LoadImageOutput',
          inputs: { image: `${'../'.repeat(30)}${absolute.slice(1)} [output]` },
        },
        'image',
      ],
      [{ class_type: 'LoadImageOutput', inputs: { image: absolute } }, 'image'],
      [{ class_type: 'LoadImage', inputs: { image: `arrakis/${victimJob}/x_00001_.png [output]` } }, 'image'],
      [
        { class_type: 'LoadImage', inputs: { image: `../output/arrakis/${victimJob}/x_00001_.png` } },
        'image',
      ],
      [
        {
          class_type: 'LoadImageSetFromFolderNode',
          inputs: { folder: `arrakis/${victimJob}`, resize_method: 'None' },
        },
        'folder',
      ],
    ];
    const mallory = client(server, attacker.key, 'mallory');
    for (const [loader, input] of attacks) {
      const r = await mallory.submit({ workflow: stealWith(loader) });
      expect(r.status, JSON.stringify(loader)).toBe(422);
      expect(r.body.code).toBe('workflow_invalid');
      expect(r.body.node_ids).toEqual(['5']);
      expect(r.body.problems).toEqual([
        {
          node_id: '5',
          input,
          path: `workflow.5.inputs.${input}`,
          message: expect.stringContaining(`"${input}"`),
        },
      ]);
    }
    expect((await mallory.list()).body.data).toEqual([]);
    expect(await promptsSeen()).toBe(before);
  });

  it('refuses the same nodes in an operator template (the check runs on the applied workflow)', async () => {
    const t = await server.admin('POST', '/v1/admin/templates', {
      name: 'peek',
      workflow: stealWith({ class_type: 'LoadImageOutput', inputs: { image: 'x.png [output]' } }),
      params: [{ name: 'image', node: '5', input: 'image', type: 'string' }],
    });
    expect(t.status).toBe(201);
    const r = await client(server, attacker.key, 'mallory').submit({
      template: 'peek',
      params: { image: `arrakis/${victimJob}/x_00001_.png [output]` },
    });
    expect(r.status).toBe(422);
    expect(r.body.problems[0]).toMatchObject({ node_id: '5', input: 'image' });
  });

  it('a job that reached the queue without the check fails on the worker before ComfyUI sees it', async () => {
    const before = await promptsSeen();
    const admitted = await server.cp.store.admitJob(
      {
        accountId: attacker.accountId,
        userId: 'mallory',
        priority: 0,
        pool: 'default',
        workflow: stealWith({
          class_type: 'LoadImageSetFromFolderNode',
          inputs: { folder: `arrakis/${victimJob}`, resize_method: 'None' },
        }),
        templateName: null,
        inputs: [],
        inputsReady: true,
        webhookUrl: null,
        metadata: {},
        idempotencyKey: null,
        requestHash: null,
      },
      Date.now(),
    );
    expect(admitted.kind).toBe('admitted');
    if (admitted.kind !== 'admitted') return;
    await server.cp.bus.publish({ kind: 'job_ready', pool: null });
    const job = await waitForJob(client(server, attacker.key, 'mallory'), admitted.job.id, isTerminal);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('workflow_invalid');
    expect(job.error.message).toContain('folder');
    expect(await promptsSeen()).toBe(before);
  });

  it('an account allowlisted for LoadImageOutput gets it through to ComfyUI (why the allowlist is dangerous)', async () => {
    const trusted = await createTenant(server, { limits, file_node_allowlist: ['LoadImageOutput'] });
    const got = await server.admin('GET', `/v1/admin/accounts/${trusted.accountId}`);
    expect(got.body.file_node_allowlist).toEqual(['LoadImageOutput']);
    const c = client(server, trusted.key, 'ops');
    const r = await c.submit({
      workflow: stealWith({
        class_type: 'LoadImageOutput',
        inputs: { image: `arrakis/${victimJob}/x_00001_.png [output]` },
      }),
    });
    expect(r.status).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal);
    expect(job.status).toBe('completed');
    const res = await fetch(`${server.url}${job.outputs[0].url}`, {
      headers: { authorization: `Bearer ${trusted.key}`, 'x-user-id': 'ops' },
    });
    const { data } = await sharp(Buffer.from(await res.arrayBuffer()))
      .raw()
      .toBuffer({ resolveWithObject: true });
    // The victim's output (its input [1, 2, 3] inverted): the allowlist hands out every tenant's files.
    [254, 253, 252].forEach((v, i) => expect(Math.abs(data[i]! - v)).toBeLessThanOrEqual(1));
    // Taking the node off the list closes it again.
    const patched = await server.admin('PATCH', `/v1/admin/accounts/${trusted.accountId}`, {
      file_node_allowlist: [],
    });
    expect(patched.body.file_node_allowlist).toEqual([]);
    const again = await c.submit({
      workflow: stealWith({ class_type: 'LoadImageOutput', inputs: { image: 'x.png [output]' } }),
    });
    expect(again.status).toBe(422);
  });
});
