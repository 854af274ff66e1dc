/**
 * Models through the worker protocol: a remote `arrakis agent --models-dir` reports its models over
 * `/v1/worker/models`, fetches a registered file it lacks via `/v1/worker/models/{name}` and runs the job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startComfyLite, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { txt2img, writeModels } from '../support/models.js';
import {
  client,
  createTenant,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { ARRAKIS_BIN as BIN } from '../support/processes.js';

let root = '';
let lite: ComfyLiteServer | null = null;
let server: TestServer | null = null;
let files: Server | null = null;
let agent: ChildProcess | null = null;

afterAll(async () => {
  if (agent !== null && agent.exitCode === null) {
    agent.kill('SIGKILL');
    await once(agent, 'exit');
  }
  await server?.close();
  await lite?.close();
  await new Promise((r) => (files === null ? r(null) : files.close(r)));
  if (root !== '') await rm(root, { recursive: true, force: true });
});

describe('remote agent with a model cache', () => {
  it('reports its models, fetches a registered file and runs the job', async () => {
    root = await mkdtemp(join(tmpdir(), 'arrakis-remote-models-'));
    const modelsDir = join(root, 'models');
    await writeModels(modelsDir, { 'checkpoints/here.safetensors': 'here' });
    lite = await startComfyLite({ port: 0, modelsDir });
    const bytes = Buffer.from('remote weights');
    files = createServer((_req, res) => res.end(bytes));
    await new Promise<void>((r) => files?.listen(0, '127.0.0.1', r));
    const addr = files.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    server = await startTestServer({ settings: { comfyLite: 0 } });
    const token = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'box' });
    agent = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--server',
        server.url,
        '--token',
        token.body.token,
        '--comfyui',
        lite.url,
        '--name',
        'box',
      ].concat(['--models-dir', modelsDir, '--model-cache-gb', '1']),
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const s = server;
    const workers = async (): Promise<any[]> => (await s.admin('GET', '/v1/admin/workers')).body.data;
    const deadline = Date.now() + 30_000;
    while (!(await workers()).some((w) => w.models_available.includes('here.safetensors'))) {
      if (Date.now() > deadline) throw new Error('the agent never reported its models');
      await new Promise((r) => setTimeout(r, 100));
    }
    const reg = await s.admin('POST', '/v1/admin/models', {
      name: 'remote.safetensors',
      kind: 'checkpoint',
      url: `http://127.0.0.1:${port}/remote.safetensors`,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    });
    expect(reg.status).toBe(201);
    const t = await createTenant(s);
    const c = client(s, t.key, 'alice');
    const r = await c.submit({ workflow: txt2img('remote.safetensors') });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const job = await waitForJob(c, r.body.id, isTerminal, 30_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(existsSync(join(modelsDir, 'checkpoints/remote.safetensors'))).toBe(true);
    // The agent reports its models after the job ends: the job can be seen completed before that report lands.
    const reported = Date.now() + 10_000;
    let [w] = await workers();
    while (w?.models_warm?.[0] !== 'remote.safetensors' && Date.now() < reported) {
      await new Promise((r) => setTimeout(r, 100));
      [w] = await workers();
    }
    expect(w).toMatchObject({ kind: 'remote', models_warm: ['remote.safetensors'] });
    expect(w.models_on_disk).toEqual(['here.safetensors', 'remote.safetensors']);
  }, 60_000);
});
