/**
 * RecentCompletions: the download's memory of the jobs this replica completed answers only the owner (account
 * AND user) of a completed job, forgets a job after its TTL, and holds at most `maxJobs`, least recently used out.
 */
import { describe, expect, it } from 'vitest';
import { RecentCompletions } from '../../src/jobs/recent-completions.js';
import type { Job, JobOutput } from '../../src/jobs/types.js';

const OUTPUT: JobOutput = {
  index: 0,
  nodeId: '3',
  filename: 'a.png',
  contentType: 'image/png',
  size: 3,
  objectKey: 'jobs/j/outputs/1.0-a.png',
};

function job(id: string, status: Job['status'] = 'completed', outputs = 1, models: Job['models'] = []): Job {
  const list = Array.from({ length: outputs }, (_, index) => ({ ...OUTPUT, index }));
  return { id, accountId: 'acc', userId: 'u1', status, outputs: list, models } as Job;
}

/** A models list of `count` checkpoints whose names are 10 characters each. */
function models(count: number, prefix: string): Job['models'] {
  return Array.from({ length: count }, (_, i) => ({
    kind: 'checkpoint',
    name: `${prefix}${String(i).padStart(9, '0')}`,
  }));
}

describe('RecentCompletions', () => {
  it('answers the owner of a completed job only; anything else is the store’s to answer', () => {
    const memory = new RecentCompletions();
    memory.remember(job('j1'));
    memory.remember(job('j2', 'failed'));
    expect(memory.outputsFor('acc', 'u1', 'j1')).toEqual([OUTPUT]);
    expect(memory.outputsFor('acc', 'u2', 'j1')).toBeUndefined();
    expect(memory.outputsFor('other', 'u1', 'j1')).toBeUndefined();
    expect(memory.outputsFor('acc', 'u1', 'j2')).toBeUndefined();
    expect(memory.outputsFor('acc', 'u1', 'j3')).toBeUndefined();
  });

  it('answers the view of a completed job to its owner only, as it answers outputs', () => {
    const memory = new RecentCompletions();
    memory.remember(job('j1'));
    expect(memory.viewFor('acc', 'u1', 'j1')).toMatchObject({
      id: 'j1',
      status: 'completed',
      outputs: [OUTPUT],
    });
    expect(memory.viewFor('acc', 'u2', 'j1')).toBeUndefined();
    expect(memory.viewFor('other', 'u1', 'j1')).toBeUndefined();
  });

  it('forgets a job after its TTL', () => {
    let now = 1_000;
    const memory = new RecentCompletions({ ttlMs: 100, now: () => now });
    memory.remember(job('j1'));
    now += 99;
    expect(memory.outputsFor('acc', 'u1', 'j1')).toEqual([OUTPUT]);
    now += 1;
    expect(memory.outputsFor('acc', 'u1', 'j1')).toBeUndefined();
    expect(memory.size).toBe(0);
  });

  it('holds at most maxJobs, the least recently used leaving first', () => {
    const memory = new RecentCompletions({ maxJobs: 2 });
    memory.remember(job('j1'));
    memory.remember(job('j2'));
    expect(memory.outputsFor('acc', 'u1', 'j1')).toEqual([OUTPUT]); // j1 used: j2 is now the oldest
    memory.remember(job('j3'));
    expect(memory.size).toBe(2);
    expect(memory.outputsFor('acc', 'u1', 'j2')).toBeUndefined();
    expect(memory.outputsFor('acc', 'u1', 'j1')).toEqual([OUTPUT]);
    expect(memory.outputsFor('acc', 'u1', 'j3')).toEqual([OUTPUT]);
  });

  it('holds at most `maxOutputs` outputs in all, least recently used out; a job with more is not held', () => {
    const memory = new RecentCompletions({ maxOutputs: 10 });
    memory.remember(job('j1', 'completed', 6));
    memory.remember(job('j2', 'completed', 4));
    expect(memory.size).toBe(2);
    memory.remember(job('j3', 'completed', 3));
    expect(memory.outputsFor('acc', 'u1', 'j1')).toBeUndefined();
    expect(memory.outputsFor('acc', 'u1', 'j2')).toHaveLength(4);
    expect(memory.outputsFor('acc', 'u1', 'j3')).toHaveLength(3);
    memory.remember(job('j4', 'completed', 11));
    expect(memory.outputsFor('acc', 'u1', 'j4')).toBeUndefined();
    expect(memory.size).toBe(2);
    // Remembering a job again counts its outputs once.
    memory.remember(job('j3', 'completed', 3));
    memory.remember(job('j3', 'completed', 3));
    expect(memory.outputsFor('acc', 'u1', 'j2')).toHaveLength(4);
    expect(memory.size).toBe(2);
  });

  it('bounds the model names its views hold, all jobs together: a workflow may name thousands of long ones', () => {
    const memory = new RecentCompletions({ maxModelChars: 500 });
    // 7 × (10 + 64) alone is over the bound: not remembered (the store answers it).
    memory.remember(job('big', 'completed', 1, models(7, 'b')));
    expect(memory.viewFor('acc', 'u1', 'big')).toBeUndefined();
    memory.remember(job('j1', 'completed', 1, models(4, 'a')));
    memory.remember(job('j2', 'completed', 1, models(4, 'c')));
    // 2 × 4 × (10 + 64) in all: the least recently used goes.
    expect(memory.viewFor('acc', 'u1', 'j1')).toBeUndefined();
    expect(memory.viewFor('acc', 'u1', 'j2')?.models).toHaveLength(4);
    expect(memory.size).toBe(1);
  });
});
