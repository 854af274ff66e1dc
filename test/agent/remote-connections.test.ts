/**
 * A remote agent keeps its connections to the worker API: jobs in a row reuse a few keep-alive connections
 * instead of opening one or more each. (The cancel long-poll used to be aborted at each job's end, which closes
 * its HTTP/1.1 connection: a TCP connect and teardown per job on both sides.)
 */
import type { Socket } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { issueWorkerToken } from '../../src/api/routes/workers.js';
import { Harness, invertWorkflow } from './harness.js';

const JOBS = 10;
/** Claim long-poll, cancel long-poll, control calls and uploads at once, with some slack: not one per job. */
const MAX_CONNECTIONS = 6;

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.close();
});

it(`runs ${JOBS} jobs in a row over at most ${MAX_CONNECTIONS} connections to the worker API`, async () => {
  const { app, url: serverUrl } = await h.startWorkerApi();
  const sockets: Socket[] = [];
  app.server.on('connection', (socket: Socket) => sockets.push(socket));
  const { token } = await issueWorkerToken(h.store, 'gpu-1', 'default');
  const lite = await h.startComfy();
  await h.startAgent(lite.url, { channel: new RemoteJobChannel({ serverUrl, token }) });
  for (let i = 0; i < JOBS; i += 1) {
    const job = await h.admit(invertWorkflow(`keep-${i}`));
    expect((await h.waitForEnd(job.id)).status).toBe('completed');
  }
  expect(sockets.length).toBeGreaterThan(0);
  expect(sockets.length).toBeLessThanOrEqual(MAX_CONNECTIONS);
});
