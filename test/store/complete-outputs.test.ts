/**
 * A completion announces its outputs in its own commit (migration 010-complete-outputs): completeJob appends
 * one `output` event per output, in output order, right before `done`; a job that ends cancelled or failed
 * has none. Both the Postgres server function (no webhook) and the transaction path (a webhook) are covered,
 * as is what the completion tells its caller it appended (FinishResult.events: its last progress, when new, first).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobOutput } from '../../src/jobs/types.js';
import { BACKENDS, type TestDb } from './backends.js';
import { jobInput, makeAccount } from './fixtures.js';

const OUTPUTS: JobOutput[] = [
  {
    index: 0,
    nodeId: '3',
    filename: 'a.png',
    contentType: 'image/png',
    size: 3,
    objectKey: 'jobs/x/outputs/1.0-a.png',
    type: 'output',
  },
  {
    index: 1,
    nodeId: '2',
    filename: 'b.png',
    contentType: 'image/png',
    size: 4,
    objectKey: 'jobs/x/outputs/1.1-b.png',
    type: 'temp',
  },
];

describe.each(BACKENDS)('completion outputs on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  async function running(webhook: boolean): Promise<{ id: string; accountId: string; userId: string }> {
    const account = await makeAccount(db.store);
    const extra = webhook ? { webhookUrl: 'https://example.com/hook' } : {};
    const admitted = await db.store.admitJob(jobInput(account.id, 'u1', extra), 1_000);
    if (admitted.kind !== 'admitted') throw new Error('setup admission failed');
    const job = await db.store.claimNext('w1', 'default', 60_000, 2_000);
    if (job === null) throw new Error('setup claim found nothing');
    return { id: job.id, accountId: account.id, userId: 'u1' };
  }

  for (const webhook of [false, true]) {
    it(`appends the output events in order and then done, in the completion (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      const before = (await db.store.listJobEvents(job.id, 0)).map((e) => e.seq);
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000);
      expect(result.kind).toBe('finished');
      const events = await db.store.listJobEvents(job.id, Math.max(...before));
      expect(events.map((e) => e.type)).toEqual(['output', 'output', 'done']);
      const first = events[0]!.seq;
      expect(events.map((e) => e.seq)).toEqual([first, first + 1, first + 2]);
      expect(events[0]!.data).toEqual({
        index: 0,
        node_id: '3',
        filename: 'a.png',
        content_type: 'image/png',
        size: 3,
        url: `/v1/jobs/${job.id}/outputs/0`,
        type: 'output',
      });
      expect(events[1]!.data).toMatchObject({ index: 1, type: 'temp', url: `/v1/jobs/${job.id}/outputs/1` });
      expect(events.every((e) => e.at === 3_000)).toBe(true);
      // The next event seq follows the done event (resume by Last-Event-ID stays gap-free).
      const next = await db.store.appendJobEvent(job.id, 'progress', {}, 3_001);
      expect(next.seq).toBe(first + 3);
    });

    it(`tells its caller the events it appended, as the log holds them (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      const before = Math.max(...(await db.store.listJobEvents(job.id, 0)).map((e) => e.seq));
      const progress = { node: '3', value: 4, max: 4 };
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000, progress);
      if (result.kind !== 'finished') throw new Error(result.kind);
      const log = await db.store.listJobEvents(job.id, before);
      expect(log.map((e) => e.type)).toEqual(['progress', 'output', 'output', 'done']);
      // The last progress too (the Postgres function says the seq it wrote it at), parsed as the log parses it.
      expect(result.events).toEqual(log);
    });

    it(`tells no progress event when the job already had that progress (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      const progress = { node: '3', value: 4, max: 4 };
      expect(await db.store.updateProgress(job.id, 'w1', progress, 2_900)).toBe(true);
      const before = Math.max(...(await db.store.listJobEvents(job.id, 0)).map((e) => e.seq));
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000, progress);
      if (result.kind !== 'finished') throw new Error(result.kind);
      const log = await db.store.listJobEvents(job.id, before);
      expect(log.map((e) => e.type)).toEqual(['output', 'output', 'done']);
      expect(result.events).toEqual(log);
    });

    it(`a completion that ends cancelled appends no output event (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      await db.store.requestCancel(job.accountId, job.userId, job.id, 2_500);
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000);
      expect(result.kind === 'finished' && result.job.status).toBe('cancelled');
      expect(result.kind === 'finished' && result.job.outputs).toEqual([]);
      const events = await db.store.listJobEvents(job.id, 0);
      expect(events.map((e) => e.type)).not.toContain('output');
      expect(events.at(-1)?.type).toBe('done');
    });
  }

  it('a lost completion appends nothing', async () => {
    const job = await running(false);
    const before = await db.store.listJobEvents(job.id, 0);
    expect((await db.store.completeJob(job.id, 'w2', OUTPUTS, 3_000)).kind).toBe('lost');
    expect(await db.store.listJobEvents(job.id, 0)).toEqual(before);
  });

  const LAST = { value: 1, max: 1, node: '3', class_type: 'SaveImage', fraction: 1 };

  for (const webhook of [false, true]) {
    it(`records the run's last progress with the completion, before the outputs (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      const before = (await db.store.listJobEvents(job.id, 0)).map((e) => e.seq);
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000, LAST);
      expect(result.kind === 'finished' && result.job.status).toBe('completed');
      expect(result.kind === 'finished' && result.job.progress).toEqual(LAST);
      const events = await db.store.listJobEvents(job.id, Math.max(...before));
      expect(events.map((e) => e.type)).toEqual(['progress', 'output', 'output', 'done']);
      expect(events[0]!.data).toEqual(LAST);
      const first = events[0]!.seq;
      expect(events.map((e) => e.seq)).toEqual([first, first + 1, first + 2, first + 3]);
      expect((await db.store.getJob(job.id))?.progress).toEqual(LAST);
    });
  }

  for (const webhook of [false, true]) {
    it(`a completion retried after its progress was recorded adds no second progress event (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      // The first try recorded the progress, then failed (e.g. its answer was lost).
      expect(await db.store.updateProgress(job.id, 'w1', LAST, 2_900)).toBe(true);
      const before = (await db.store.listJobEvents(job.id, 0)).map((e) => e.seq);
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000, LAST);
      expect(result.kind === 'finished' && result.job.status).toBe('completed');
      const events = await db.store.listJobEvents(job.id, Math.max(...before));
      expect(events.map((e) => e.type)).toEqual(['output', 'output', 'done']);
      // A different last progress is recorded as usual.
      const other = await running(webhook);
      expect(await db.store.updateProgress(other.id, 'w1', { ...LAST, fraction: 0.5 }, 2_900)).toBe(true);
      const otherBefore = (await db.store.listJobEvents(other.id, 0)).map((e) => e.seq);
      await db.store.completeJob(other.id, 'w1', OUTPUTS, 3_000, LAST);
      const otherEvents = await db.store.listJobEvents(other.id, Math.max(...otherBefore));
      expect(otherEvents.map((e) => e.type)).toEqual(['progress', 'output', 'output', 'done']);
    });
  }

  for (const webhook of [false, true]) {
    it(`a completion that ends cancelled tells the progress and done it appended, as the log holds them (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      await db.store.requestCancel(job.accountId, job.userId, job.id, 2_500);
      const before = Math.max(...(await db.store.listJobEvents(job.id, 0)).map((e) => e.seq));
      const result = await db.store.completeJob(job.id, 'w1', OUTPUTS, 3_000, LAST);
      if (result.kind !== 'finished') throw new Error(result.kind);
      expect(result.job.status).toBe('cancelled');
      const log = await db.store.listJobEvents(job.id, before);
      expect(log.map((e) => e.type)).toEqual(['progress', 'done']);
      expect(result.events).toEqual(log);
    });

    it(`a failure tells the progress and done it appended, as the log holds them (webhook: ${webhook})`, async () => {
      const job = await running(webhook);
      const before = Math.max(...(await db.store.listJobEvents(job.id, 0)).map((e) => e.seq));
      const error = { code: 'execution_error' as const, message: 'boom', nodeId: '3' };
      const result = await db.store.failJob(job.id, 'w1', error, 3_000);
      if (result.kind !== 'finished') throw new Error(result.kind);
      const log = await db.store.listJobEvents(job.id, before);
      expect(log.at(-1)?.type).toBe('done');
      expect(result.events).toEqual(log);
    });
  }

  it('a lost completion records no progress either', async () => {
    const job = await running(false);
    const before = await db.store.listJobEvents(job.id, 0);
    expect((await db.store.completeJob(job.id, 'w2', OUTPUTS, 3_000, LAST)).kind).toBe('lost');
    expect(await db.store.listJobEvents(job.id, 0)).toEqual(before);
    expect((await db.store.getJob(job.id))?.progress).toBeNull();
  });
});
