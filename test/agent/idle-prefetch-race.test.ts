/**
 * A worker between jobs says `idle` from a timer while its claim is still waiting; the prefetch the fleet asked
 * for starts after that idle turn's model report. A job claimed while that report is on its way must not be
 * joined by the prefetch once the report comes back: the job has the link and the disk to itself.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { ModelKeeper } from '../../src/agent/model-keeper.js';
import { ModelCache } from '../../src/models/model-cache.js';
import type { ModelRef } from '../../src/models/model-refs.js';
import type { WorkerStatus } from '../../src/store/contract.js';
import type { ModelReport } from '../../src/workers/job-channel.js';
import { Harness, delayWorkflow } from './harness.js';

let h: Harness | null = null;
let source: Server | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  source?.closeAllConnections();
  await new Promise((r) => (source === null ? r(null) : source.close(r)));
  source = null;
});

const REF: ModelRef = { kind: 'checkpoint', name: 'wanted.safetensors' };

/** Holds the first model report made while the worker says `idle`, once armed, until `held` resolves. */
class HeldReports extends LocalJobChannel {
  status: WorkerStatus | null = null;
  hold: (() => Promise<void>) | null = null;
  override async setStatus(status: WorkerStatus): Promise<void> {
    await super.setStatus(status);
    this.status = status;
  }
  override async reportModels(report: ModelReport): Promise<ModelRef[]> {
    const hold = this.hold;
    if (hold !== null && this.status === 'idle') {
      this.hold = null;
      await hold();
    }
    return await super.reportModels(report);
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Keeps its stop open for a moment once its fetches have let go, as a slow stop would. */
class SlowStop extends ModelKeeper {
  stopped: () => void = () => {};
  override async stop(): Promise<void> {
    await super.stop();
    this.stopped();
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * An agent whose model source records each request and never answers (a prefetch in flight stays in flight),
 * asked to prefetch REF, its fetch started while idle and stopped by a first job now running.
 */
async function busyAgentAskedToPrefetch(harness: Harness) {
  const hits: number[] = [];
  source = createServer(() => hits.push(Date.now()));
  await new Promise<void>((r) => source!.listen(0, '127.0.0.1', r));
  const addr = source.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const lite = await harness.startComfy();
  await harness.store.createModelFile(
    {
      name: REF.name,
      kind: REF.kind,
      url: `http://127.0.0.1:${port}/m`,
      sha256: createHash('sha256').update('x').digest('hex'),
      size: 1,
    },
    Date.now(),
  );
  const channel = new HeldReports({ service: harness.service, bus: harness.bus });
  const cache = new ModelCache({ dir: join(harness.dir, 'models'), budgetBytes: 1e6 });
  const models = new SlowStop({ channel, comfyUrl: lite.url, cache });
  const agent = await harness.startAgent(lite.url, { channel, models, claimWaitMs: 500 });
  const workerId = agent.workerId!;
  await until(
    'models reported',
    async () => (await harness.store.getWorker(workerId))?.models?.known === true,
    10_000,
  );
  // The fleet asks for the file: the idle agent hears it at its next idle turn and starts fetching; a first job
  // stops that fetch.
  await harness.service.prefetchModels(workerId, [REF]);
  await until('the prefetch started', () => hits.length > 0, 10_000);
  const first = await harness.admit(delayWorkflow(0.3));
  await until(
    'the first job running',
    async () => (await harness.store.getJob(first.id))?.status === 'running',
    10_000,
  );
  return { agent, channel, models, hits, first };
}

it('starts no prefetch during a job claimed while the idle turn reported its models', async () => {
  h = await Harness.create();
  const harness = h;
  const { channel, hits, first } = await busyAgentAskedToPrefetch(harness);
  let second: string | null = null;
  let before = 0;
  channel.hold = async () => {
    // The idle turn's model report is on its way: a job comes and is claimed meanwhile.
    before = hits.length;
    second = (await harness.admit(delayWorkflow(1.5))).id;
    await until(
      'the second job running',
      async () => (await harness.store.getJob(second!))?.status === 'running',
      10_000,
    );
  };
  expect((await harness.waitForEnd(first.id)).status).toBe('completed');
  await until('the second job claimed', () => second !== null && channel.hold === null, 10_000);
  await until(
    'the second job running',
    async () => (await harness.store.getJob(second!))?.status === 'running',
    10_000,
  );
  // The held report has come back (with the ask); the job runs on for a while.
  await new Promise((r) => setTimeout(r, 400));
  expect((await harness.store.getJob(second!))?.status).toBe('running');
  expect(hits).toHaveLength(before);
  // Once the job is over and the worker idle again, the prefetch does start.
  expect((await harness.waitForEnd(second!)).status).toBe('completed');
  await until('the prefetch started after the job', () => hits.length > before, 10_000);
});

it('starts no prefetch once the agent is stopping while the idle turn reported its models', async () => {
  h = await Harness.create();
  const harness = h;
  const { agent, channel, models, hits, first } = await busyAgentAskedToPrefetch(harness);
  let stopping: Promise<void> | null = null;
  let before = 0;
  channel.hold = async () => {
    // The idle turn's model report is on its way: the agent is told to stop, and its models stop meanwhile.
    before = hits.length;
    const modelsStopped = new Promise<void>((r) => (models.stopped = r));
    stopping = agent.stop();
    await modelsStopped;
  };
  expect((await harness.waitForEnd(first.id)).status).toBe('completed');
  await until('the agent stopping', () => stopping !== null, 10_000);
  await stopping;
  // A fetch started after the models stopped would run on in a stopped agent: none did.
  await new Promise((r) => setTimeout(r, 300));
  expect(hits).toHaveLength(before);
});
