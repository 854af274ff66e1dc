/**
 * Real parts for agent tests: a SQLite store file and file storage in a temp dir, the local bus, comfy-lite
 * servers on free ports, and agents on LocalJobChannels. Everything started here is stopped by `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { workerRoutes } from '../../src/api/routes/workers.js';
import type { WorkerRouteFile } from '../../src/api/scopes/worker-scope.js';
import type { JobChannel } from '../../src/workers/job-channel.js';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { WorkerService } from '../../src/workers/worker-service.js';
import { createComfyServer } from '../../src/comfy/http-client.js';
import type { ComfyServer } from '../../src/comfy/contract.js';
import { startComfyLite, type ComfyLiteOptions, type ComfyLiteServer } from '../../src/comfy-lite/server.js';
import type { EventBus } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import {
  DEFAULT_LIMITS,
  TERMINAL_STATUSES,
  type Job,
  type JobInput,
  type Workflow,
} from '../../src/jobs/types.js';
import type { ObjectStorage } from '../../src/media/storage/contract.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import type { Store } from '../../src/store/contract.js';
import type { ModelRef } from '../../src/models/model-refs.js';
import { openStore } from '../../src/store/open.js';

export interface HarnessOptions {
  leaseMs?: number;
  maxAttempts?: number;
}

/** EmptyImage (every channel 16) → ImageInvert → SaveImage. */
export function invertWorkflow(prefix = 'invert'): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0x101010 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

/** EmptyImage → ArrakisDelay (progress every 50 ms) → SaveImage. */
export function delayWorkflow(seconds: number): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'delay' } },
  };
}

/** A ComfyServer client tuned for tests: quick history polls and a short unreachable grace. */
export function testComfyClient(url: string): ComfyServer {
  return createComfyServer(url, {
    historyPollMs: 50,
    unreachableGraceMs: 600,
    requestTimeoutMs: 3000,
    reconnect: { maxAttempts: 3, baseMs: 50 },
  });
}

export class Harness {
  readonly service: WorkerService;
  private readonly cleanups: Array<() => Promise<void>> = [];
  private accountId = '';

  private constructor(
    readonly dir: string,
    readonly store: Store,
    readonly storage: ObjectStorage,
    readonly bus: EventBus,
    readonly options: Required<HarnessOptions>,
  ) {
    this.service = new WorkerService({ store, storage, bus, ...options, fallbackPollMs: 200 });
  }

  static async create(options: HarnessOptions = {}): Promise<Harness> {
    const dir = await mkdtemp(join(tmpdir(), 'arrakis-agent-'));
    const store = await openStore(`sqlite:${join(dir, 'arrakis.db')}`);
    await store.migrate();
    const storage = openStorage(`file:${join(dir, 'objects')}`);
    const h = new Harness(dir, store, storage, createLocalBus(), {
      leaseMs: options.leaseMs ?? 3000,
      maxAttempts: options.maxAttempts ?? 3,
    });
    const limits = { ...DEFAULT_LIMITS, max_active_jobs_per_user: 50 };
    const account = await store.createAccount(
      {
        name: 'agent-tests',
        limits,
        jwt: null,
        nodeAllowlist: null,
        allowedPools: null,
        webhookSecret: 'whsec_test',
      },
      Date.now(),
    );
    h.accountId = account.id;
    return h;
  }

  /** Admits a job the way the API does and tells idle agents about it (`models`: the files it names). */
  async admit(
    workflow: Workflow,
    inputs: JobInput[] = [],
    userId = 'user-1',
    models?: ModelRef[],
  ): Promise<Job> {
    const result = await this.store.admitJob(
      {
        accountId: this.accountId,
        userId,
        priority: 0,
        pool: 'default',
        workflow,
        templateName: null,
        inputs,
        inputsReady: true,
        webhookUrl: null,
        metadata: {},
        idempotencyKey: null,
        requestHash: null,
        ...(models === undefined ? {} : { models }),
      },
      Date.now(),
    );
    if (result.kind !== 'admitted') throw new Error(`admission refused: ${result.kind}`);
    await this.bus.publish({ kind: 'job_ready', pool: null });
    return result.job;
  }

  /** Accepts a cancel the way the API does: store first, then the bus push to the agent. */
  async cancel(job: Job): Promise<void> {
    const result = await this.store.requestCancel(job.accountId, job.userId, job.id, Date.now());
    if (result.kind === 'cancel_requested') await this.bus.publish({ kind: 'cancel', jobId: job.id });
  }

  /** Resolves with the job once `ready(job)` holds, re-checking on each of its bus events. */
  async waitFor(jobId: string, ready: (job: Job) => boolean, timeoutMs = 10_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    let wake: () => void = () => {};
    const off = this.bus.subscribe((m) => {
      if (m.kind === 'job_event' && m.jobId === jobId) wake();
    });
    try {
      for (;;) {
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const job = await this.store.getJob(jobId);
        if (job !== null && ready(job)) return job;
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`job ${jobId} is still ${job?.status ?? 'missing'} after ${timeoutMs} ms`);
        // Bus events are the signal; the short bound only covers transitions made without one (lease sweeps).
        await Promise.race([woken, new Promise((resolve) => setTimeout(resolve, Math.min(left, 250)))]);
      }
    } finally {
      off();
    }
  }

  waitForEnd(jobId: string, timeoutMs = 10_000): Promise<Job> {
    return this.waitFor(jobId, (j) => TERMINAL_STATUSES.includes(j.status), timeoutMs);
  }

  /** A comfy-lite on a free port, closed with the harness; `options` adds to it (e.g. `testOnlyNodes`). */
  async startComfy(options: ComfyLiteOptions = {}): Promise<ComfyLiteServer> {
    const lite = await startComfyLite({ port: 0, ...options });
    let closed = false;
    const close = lite.close.bind(lite);
    lite.close = async () => {
      if (closed) return;
      closed = true;
      await close();
    };
    this.cleanups.push(() => lite.close());
    return lite;
  }

  /** Starts an agent for `comfyUrl` on a LocalJobChannel (or the channel given). */
  async startAgent(
    comfyUrl: string,
    extra: Partial<AgentOptions> & { channel?: JobChannel } = {},
  ): Promise<Agent> {
    const comfy = extra.comfy ?? testComfyClient(comfyUrl);
    const channel = extra.channel ?? new LocalJobChannel({ service: this.service, bus: this.bus });
    const agent = new Agent({
      identity: { name: `agent-${this.cleanups.length}`, pool: 'default', comfyUrl },
      claimWaitMs: 2000,
      healthBackoffMs: { min: 50, max: 200 },
      ...extra,
      channel,
      comfy,
    });
    await agent.start();
    this.cleanups.push(async () => {
      await agent.stop();
      await channel.close();
      await comfy.close();
    });
    return agent;
  }

  /**
   * Serves the worker API (`/v1/worker/...`) on this harness's store, storage and bus on a free port, for
   * RemoteJobChannels; closed at close() (after the agents started later) unless the test closed it.
   * `onRequest` hears each request's URL as it arrives.
   */
  async startWorkerApi(
    options: {
      maxOutputBytes?: number;
      leaseMs?: number;
      lostClaimGraceMs?: number;
      onRequest?: (url: string) => void;
      /** Route files added to the registered-worker scope (e.g. a hook that holds claims up after auth). */
      routeFiles?: WorkerRouteFile[];
    } = {},
  ): Promise<{ app: FastifyInstance; url: string }> {
    const app = Fastify();
    const { onRequest } = options;
    if (onRequest !== undefined) {
      app.addHook('onRequest', async (request) => {
        onRequest(request.url);
      });
    }
    await app.register(
      workerRoutes(
        {
          store: this.store,
          storage: this.storage,
          bus: this.bus,
          leaseMs: options.leaseMs ?? 30_000,
          maxAttempts: 3,
          maxOutputBytes: options.maxOutputBytes ?? 64 * 1024,
          ...(options.lostClaimGraceMs !== undefined && { lostClaimGraceMs: options.lostClaimGraceMs }),
        },
        options.routeFiles,
      ),
      { prefix: '/v1/worker' },
    );
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    this.cleanups.push(async () => {
      if (app.server.listening) await app.close();
    });
    return { app, url };
  }

  /** Runs `cleanup` at close(), after whatever is started later (an API server its agents talk to). */
  onClose(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  async close(): Promise<void> {
    for (const cleanup of this.cleanups.reverse()) await cleanup();
    await this.bus.close();
    await this.store.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
