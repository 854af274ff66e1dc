/** toPublicJob renders exactly the documented job schema (the one the API, webhooks and the client share). */
import { describe, expect, it } from 'vitest';
import { jobSchema, outputSchema } from '../../src/jobs/public-job-schema.js';
import { toPublicJob } from '../../src/jobs/public-job.js';
import type { Job } from '../../src/jobs/types.js';

function job(extra: Partial<Job>): Job {
  return {
    id: 'job_1',
    accountId: 'acct_1',
    userId: 'alice',
    status: 'queued',
    priority: 0,
    pool: 'default',
    cancelRequested: false,
    createdAt: 1_000,
    startedAt: null,
    finishedAt: null,
    workflow: {},
    templateName: null,
    inputs: [],
    inputsReady: true,
    webhookUrl: null,
    metadata: {},
    progress: null,
    outputs: [],
    error: null,
    attempts: 0,
    workerId: null,
    leaseExpiresAt: null,
    idempotencyKey: null,
    models: [],
    ...extra,
  };
}

/** The schema with no unknown keys allowed, at the top and in each output. */
const exactJob = jobSchema.extend({ outputs: outputSchema.strict().array() }).strict();

describe('the public job', () => {
  it('a completed job with outputs parses against the strict schema, with relative output URLs', () => {
    const rendered = toPublicJob(
      job({
        status: 'completed',
        startedAt: 1_500,
        finishedAt: 4_000,
        outputs: [
          { index: 0, nodeId: '9', filename: 'o.png', contentType: 'image/png', size: 3, objectKey: 'k' },
        ],
      }),
    );
    expect(exactJob.parse(rendered)).toEqual(rendered);
    expect(rendered).toMatchObject({ queue_wait_s: 0.5, run_time_s: 2.5, total_time_s: 3 });
    expect(rendered.outputs[0]?.url).toBe('/v1/jobs/job_1/outputs/0');
  });

  it('a failed job carries its error with the node id, and a queued one parses too', () => {
    const failed = toPublicJob(
      job({
        status: 'failed',
        error: { code: 'execution_error', message: 'boom', nodeId: '3' },
        finishedAt: 2_000,
      }),
    );
    expect(exactJob.parse(failed).error).toEqual({ code: 'execution_error', message: 'boom', node_id: '3' });
    expect(() => exactJob.parse(toPublicJob(job({})))).not.toThrow();
  });
});
