/** The rest of the store: pagination, rate buckets, webhooks, reconciliation, accounts, templates, fleet. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

describe.each(BACKENDS)('store records on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('pages a user’s jobs newest first with a cursor, filtered by status', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 20 });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000 + i);
      if (r.kind === 'admitted') ids.push(r.job.id);
    }
    await db.store.admitJob(jobInput(account.id, 'other'), 1_100);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const res = await db.store.listJobs({ accountId: account.id, userId: 'u1', limit: 3, cursor });
      seen.push(...res.jobs.map((j) => j.id));
      if (res.nextCursor === null) break;
      cursor = res.nextCursor;
    }
    expect(seen).toEqual([...ids].reverse());
    await db.store.requestCancel(account.id, 'u1', ids[0]!, 2_000);
    const cancelled = await db.store.listJobs({
      accountId: account.id,
      userId: 'u1',
      status: 'cancelled',
      limit: 10,
    });
    expect(cancelled).toEqual({ jobs: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
    await db.store.admitJob(jobInput(account.id, 'u2', { pool: 'big', priority: 10 }), 1_200);
    await db.store.admitJob(jobInput(account.id, 'u3', { inputsReady: false }), 1_300);
    expect((await db.store.claimNext('w1', 'big', 60_000, 2_100))?.pool).toBe('big');
    const none = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    expect(await db.store.countJobsByStatus()).toEqual({ ...none, queued: 8, running: 1 });
    expect(await db.store.countJobsByStatus('default')).toEqual({ ...none, queued: 8 });
    expect(await db.store.countJobsByStatus('big')).toEqual({ ...none, running: 1 });
  });

  it('a token bucket allows the burst, then refills at the rate', async () => {
    const take = (now: number) => db.store.takeTokens([{ key: 'user:u1', ratePerSecond: 2, burst: 3 }], now);
    const burst = [await take(0), await take(0), await take(0)];
    expect(burst.every((d) => d.allowed)).toBe(true);
    expect(await take(0)).toEqual({ allowed: false, retryAfterMs: 500 });
    expect((await take(499)).allowed).toBe(false);
    expect((await take(500)).allowed).toBe(true);
    expect((await take(500)).allowed).toBe(false);
    expect((await take(10_000)).allowed).toBe(true);
    expect((await db.store.takeTokens([{ key: 'user:u2', ratePerSecond: 2, burst: 3 }], 0)).allowed).toBe(
      true,
    );
  });

  it('accountUsage sums run time of ended jobs per pool since a time', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 20 });
    for (const [pool, start, end] of [
      ['gpu', 10_000, 12_500],
      ['gpu', 13_000, 14_000],
      ['default', 20_000, 20_500],
    ] as const) {
      await db.store.admitJob(jobInput(account.id, 'u1', { pool }), start - 10);
      const job = await db.store.claimNext('w1', pool, 60_000, start);
      expect(job).not.toBeNull();
      await db.store.completeJob(job!.id, 'w1', [], end);
    }
    const usage = await db.store.accountUsage(account.id, 0);
    const byPool = Object.fromEntries(usage.map((u) => [u.pool, { jobs: u.jobs, runSeconds: u.runSeconds }]));
    expect(byPool).toEqual({ gpu: { jobs: 2, runSeconds: 3.5 }, default: { jobs: 1, runSeconds: 0.5 } });
    expect(await db.store.accountUsage(account.id, 15_000)).toEqual([
      { pool: 'default', jobs: 1, runSeconds: 0.5 },
    ]);
  });

  it('fleetActivity lists recent arrivals of the pools and the users with work in flight', async () => {
    const account = await makeAccount(db.store, { max_active_jobs_per_user: 20 });
    const t0 = Date.now() - 60_000;
    await db.store.admitJob(jobInput(account.id, 'old', { pool: 'gpu' }), t0 - 10_000);
    await db.store.admitJob(jobInput(account.id, 'a', { pool: 'gpu' }), t0 + 1_000);
    await db.store.admitJob(jobInput(account.id, 'b', { pool: 'default' }), t0 + 2_000);
    await db.store.admitJob(jobInput(account.id, 'c', { pool: 'cpu' }), t0 + 3_000);
    const gpu = await db.store.fleetActivity(['gpu'], t0);
    expect(gpu.arrivals).toEqual([t0 + 1_000]);
    expect(new Set(gpu.activeUsers)).toEqual(new Set([`${account.id}/old`, `${account.id}/a`]));
    const both = await db.store.fleetActivity(['gpu', 'default'], t0);
    expect(both.arrivals).toEqual([t0 + 1_000, t0 + 2_000]);
    const cpu = await db.store.fleetActivity(['cpu'], t0 + 2_500);
    expect(cpu).toEqual({ arrivals: [t0 + 3_000], activeUsers: [`${account.id}/c`] });
  });

  it('a voluntary give-back does not spend an attempt; an involuntary one does', async () => {
    const account = await makeAccount(db.store);
    const admitted = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    const id = admitted.kind === 'admitted' ? admitted.job.id : '';
    // One attempt allowed: a deploy that stops the worker must not use it up.
    await db.store.claimNext('w1', 'default', 60_000, 2_000);
    const back = await db.store.releaseJob(id, 'w1', 1, 'the worker is stopping', 3_000, true);
    expect(back.kind === 'finished' && back.job).toMatchObject({ status: 'queued', attempts: 1 });
    await db.store.claimNext('w2', 'default', 60_000, 4_000);
    const lost = await db.store.releaseJob(id, 'w2', 1, 'ComfyUI died', 5_000);
    expect(lost.kind === 'finished' && lost.job).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: 'worker_lost' },
    });
  });

  it('attempt numbers are never reused: a voluntary release keeps its number, and the retry budget is unchanged', async () => {
    const account = await makeAccount(db.store);
    const admitted = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    const id = admitted.kind === 'admitted' ? admitted.job.id : '';
    const claimAt = async (worker: string, at: number): Promise<number | undefined> =>
      (await db.store.claimNext(worker, 'default', 1_000, at))?.attempts;
    const claims: Array<number | undefined> = [];
    // Three drains: each run gives the job back voluntarily, and the next claim counts one more.
    for (let i = 0; i < 3; i++) {
      claims.push(await claimAt(`w${i}`, 2_000 + i * 10));
      const back = await db.store.releaseJob(id, `w${i}`, 2, 'the worker is stopping', 2_001 + i * 10, true);
      expect(back.kind === 'finished' && back.job.status).toBe('queued');
    }
    // Still two attempts to fail with --max-attempts 2: a release by the worker, then an expired lease.
    claims.push(await claimAt('w3', 3_000));
    const lost = await db.store.releaseJob(id, 'w3', 2, 'ComfyUI died', 3_001);
    expect(lost.kind === 'finished' && lost.job.status).toBe('queued');
    claims.push(await claimAt('w4', 4_000));
    expect(await db.store.expireLeases(2, 10_000)).toEqual([{ jobId: id, outcome: 'failed' }]);
    expect(claims).toEqual([1, 2, 3, 4, 5]);
    expect(await db.store.getJob(id)).toMatchObject({
      status: 'failed',
      attempts: 5,
      error: { code: 'worker_lost' },
    });
  });

  it('takeTokens takes from every bucket or from none', async () => {
    const user = { key: 'multi:user', ratePerSecond: 1, burst: 3 };
    const account = { key: 'multi:account', ratePerSecond: 1, burst: 1 };
    expect(await db.store.takeTokens([user, account], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    // The account bucket is empty: the user's token taken first is given back.
    expect(await db.store.takeTokens([user, account], 0)).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(await db.store.takeTokens([user], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect(await db.store.takeTokens([user], 0)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect((await db.store.takeTokens([user], 0)).allowed).toBe(false);
  });

  it('concurrent takes never hand out more than the burst', async () => {
    const decisions = await Promise.all(
      Array.from({ length: 20 }, () =>
        db.store.takeTokens([{ key: 'k', ratePerSecond: 1, burst: 5 }], 1_000),
      ),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
  });

  it('enqueues one webhook per terminal transition, skips disabled endpoints, records attempts', async () => {
    const account = await makeAccount(db.store);
    const hook = 'https://example.com/hook';
    const a = await db.store.admitJob(
      jobInput(account.id, 'u1', { webhookUrl: hook, metadata: { k: 1 } }),
      1_000,
    );
    if (a.kind !== 'admitted') throw new Error('not admitted');
    await db.store.claimNext('w1', 'default', 60_000, 2_000);
    const outputs = [
      { index: 0, nodeId: '9', filename: 'o.png', contentType: 'image/png', size: 3, objectKey: 'k/o.png' },
    ];
    await db.store.completeJob(a.job.id, 'w1', outputs, 3_000);
    expect(await db.store.completeJob(a.job.id, 'w1', outputs, 3_001)).toEqual({ kind: 'lost' });
    const [delivery, ...more] = await db.store.listWebhookDeliveries({ jobId: a.job.id, limit: 10 });
    expect(more).toEqual([]);
    expect(delivery).toMatchObject({
      id: expect.stringMatching(/^msg_/),
      eventType: 'job.completed',
      status: 'pending',
    });
    expect(delivery?.payload).toMatchObject({
      type: 'job.completed',
      data: {
        job: {
          id: a.job.id,
          status: 'completed',
          metadata: { k: 1 },
          run_time_s: 1,
          outputs: [{ index: 0, node_id: '9' }],
        },
      },
    });
    const claimed = await db.store.claimDueWebhooks('d1', 10, 30_000, 3_000);
    expect(claimed.map((d) => d.id)).toEqual([delivery?.id]);
    expect(await db.store.claimDueWebhooks('d2', 10, 30_000, 3_000)).toEqual([]);
    const attempt = {
      deliveryId: delivery!.id,
      attempt: 1,
      at: 3_100,
      statusCode: 500,
      error: null,
      durationMs: 12,
    };
    await db.store.recordWebhookAttempt(attempt, { status: 'pending', nextAttemptAt: 9_000 });
    expect(await db.store.claimDueWebhooks('d1', 10, 30_000, 8_999)).toEqual([]);
    expect((await db.store.claimDueWebhooks('d1', 10, 30_000, 9_000)).map((d) => d.attempts)).toEqual([1]);
    expect(await db.store.listWebhookAttempts(delivery!.id)).toEqual([attempt]);

    await db.store.disableWebhookEndpoint(account.id, hook, 9_500);
    expect(await db.store.isWebhookEndpointDisabled(account.id, hook)).toBe(true);
    expect((await db.store.listWebhookDeliveries({ jobId: a.job.id, limit: 1 }))[0]?.status).toBe('disabled');
    const b = await db.store.admitJob(jobInput(account.id, 'u1', { webhookUrl: hook }), 10_000);
    if (b.kind !== 'admitted') throw new Error('not admitted');
    await db.store.requestCancel(account.id, 'u1', b.job.id, 10_001);
    expect(await db.store.listWebhookDeliveries({ jobId: b.job.id, limit: 10 })).toEqual([]);
  });

  it('reconcile repairs injected drift and reports it', async () => {
    const account = await makeAccount(db.store);
    await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    await db.store.admitJob(jobInput(account.id, 'u1'), 1_001);
    await db.exec(`UPDATE user_counters SET active = 5 WHERE user_id = 'u1'`);
    await db.exec(`UPDATE accounts SET active_jobs = 0`);
    expect((await db.store.admitJob(jobInput(account.id, 'u1'), 1_002)).kind).toBe('quota_exceeded');
    const repairs = await db.store.reconcileCounters();
    expect(repairs).toEqual([
      { scope: 'user', accountId: account.id, userId: 'u1', was: 5, now: 2 },
      { scope: 'account', accountId: account.id, userId: null, was: 0, now: 2 },
    ]);
    expect(await db.store.reconcileCounters()).toEqual([]);
    expect((await db.store.admitJob(jobInput(account.id, 'u1'), 1_003)).kind).toBe('admitted');
  });

  it('keeps an account file_node_allowlist: empty by default, set at creation, patched', async () => {
    const plain = await makeAccount(db.store);
    expect(plain.fileNodeAllowlist).toEqual([]);
    const trusted = await db.store.createAccount(
      {
        name: 'trusted',
        limits: plain.limits,
        jwt: null,
        nodeAllowlist: null,
        fileNodeAllowlist: ['LoadImageOutput'],
        allowedPools: null,
        webhookSecret: 'whsec_x',
      },
      1_000,
    );
    expect((await db.store.getAccount(trusted.id))?.fileNodeAllowlist).toEqual(['LoadImageOutput']);
    const patched = await db.store.updateAccount(trusted.id, {
      fileNodeAllowlist: ['LoadAudio', 'VAELoader'],
    });
    expect(patched?.fileNodeAllowlist).toEqual(['LoadAudio', 'VAELoader']);
    const renamed = await db.store.updateAccount(trusted.id, { name: 'x' });
    expect(renamed?.fileNodeAllowlist).toEqual(['LoadAudio', 'VAELoader']);
  });

  it('keeps accounts, keys, templates, workers, tokens, decisions and sweeps', async () => {
    const account = await makeAccount(db.store);
    const patched = await db.store.updateAccount(account.id, {
      name: 'renamed',
      nodeAllowlist: ['SaveImage'],
    });
    expect(patched).toMatchObject({ name: 'renamed', nodeAllowlist: ['SaveImage'], limits: account.limits });
    const rotated = await db.store.rotateWebhookSecret(account.id, 'whsec_new', 5_000);
    expect(rotated).toMatchObject({
      webhookSecret: 'whsec_new',
      webhookSecretPrevious: 'whsec_test',
      webhookSecretPreviousUntil: 5_000,
    });
    expect(await db.store.listAccounts()).toHaveLength(1);

    const key = await db.store.createApiKey(
      { accountId: account.id, name: 'k', hash: 'h1', scopes: ['jobs:read'] },
      1_000,
    );
    await db.store.touchApiKey(key.id, 2_000);
    await db.store.touchApiKey(key.id, 30_000);
    expect((await db.store.getApiKey(key.id))?.lastUsedAt).toBe(2_000);
    await db.store.touchApiKey(key.id, 62_000);
    expect((await db.store.getApiKey(key.id))?.lastUsedAt).toBe(62_000);
    expect(await db.store.revokeApiKey(key.id, 70_000)).toBe(true);
    expect(await db.store.revokeApiKey(key.id, 70_001)).toBe(false);
    expect((await db.store.listApiKeys(account.id))[0]?.revokedAt).toBe(70_000);

    const workflow = { '1': { class_type: 'EmptyImage', inputs: {} } };
    const params = [{ name: 'w', node: '1', input: 'width', type: 'integer' as const, default: 64 }];
    await db.store.upsertTemplate({ name: 't', description: 'd', workflow, params, accountId: null }, 1_000);
    const t = await db.store.upsertTemplate(
      { name: 't', description: 'd2', workflow, params, accountId: account.id },
      2_000,
    );
    // The owner is stored and changes with an update (a global template can be given to one account).
    expect(t).toMatchObject({
      description: 'd2',
      createdAt: 1_000,
      updatedAt: 2_000,
      params,
      accountId: account.id,
    });
    expect((await db.store.listTemplates()).map((x) => x.name)).toEqual(['t']);
    expect(await db.store.deleteTemplate('t')).toBe(true);
    expect(await db.store.getTemplate('t')).toBeNull();

    const worker = {
      id: 'wk1',
      name: 'one',
      pool: 'p',
      kind: 'remote' as const,
      comfyUrl: null,
      status: 'starting' as const,
      providerRef: null,
      startedAt: 1,
      readyAt: null,
      stoppedAt: null,
      lastSeenAt: 1,
    };
    await db.store.upsertWorker(worker);
    await db.store.setWorkerStatus('wk1', 'idle', 50);
    expect(await db.store.getWorker('wk1')).toMatchObject({ status: 'idle', readyAt: 50, lastSeenAt: 50 });
    // ready_at is the first ready status; stopped_at is stamped by a stop only.
    await db.store.setWorkerStatus('wk1', 'busy', 55);
    expect(await db.store.getWorker('wk1')).toMatchObject({ status: 'busy', readyAt: 50, stoppedAt: null });
    await db.store.setWorkerStatus('wk1', 'stopped', 60);
    expect(await db.store.getWorker('wk1')).toMatchObject({ readyAt: 50, stoppedAt: 60, lastSeenAt: 60 });
    expect(await db.store.listWorkers({ pool: 'p' })).toEqual([]);
    expect(await db.store.listWorkers({ pool: 'p', includeStopped: true })).toHaveLength(1);
    await db.store.createWorkerToken({ id: 'wt1', name: 'n', pool: 'p', hash: 'x' }, 5);
    expect(await db.store.revokeWorkerToken('wt1', 6)).toBe(true);
    expect((await db.store.getWorkerToken('wt1'))?.revokedAt).toBe(6);
    await db.store.createWorkerToken({ id: 'wt2', name: 'm', pool: 'p', hash: 'y' }, 7);
    expect((await db.store.listWorkerTokens()).map((t) => [t.id, t.revokedAt])).toEqual([
      ['wt1', 6],
      ['wt2', null],
    ]);
    await db.store.recordScalingDecision({ pool: 'p', at: 1, current: 0, target: 2, reason: 'queue' });
    await db.store.recordScalingDecision({ pool: 'p', at: 2, current: 2, target: 1, reason: 'idle' });
    expect((await db.store.listScalingDecisions('p', 1)).map((d) => d.reason)).toEqual(['idle']);

    const job = await db.store.admitJob(jobInput(account.id, 'u1'), 1_000);
    if (job.kind !== 'admitted') throw new Error('not admitted');
    const failed = await db.store.failQueuedJob(
      job.job.id,
      { code: 'input_fetch_failed', message: '404' },
      2_000,
    );
    expect(failed?.error?.code).toBe('input_fetch_failed');
    expect(
      await db.store.failQueuedJob(job.job.id, { code: 'input_fetch_failed', message: 'again' }, 2_001),
    ).toBeNull();
    expect((await db.store.listJobsForSweep(3_000, 10)).map((j) => j.id)).toEqual([job.job.id]);
    await db.store.markJobSwept(job.job.id, 3_000);
    expect(await db.store.listJobsForSweep(3_000, 10)).toEqual([]);
    expect(await db.store.isReady()).toBe(true);
  });
});
