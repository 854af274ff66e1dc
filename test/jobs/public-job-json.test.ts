/**
 * publicJobJson is exactly JSON.stringify(toPublicJob(job)), byte for byte, for every job state and every
 * optional part (progress, outputs, error details, metadata, models), and falls back to it for a view whose
 * fields the types do not allow.
 */
import { describe, expect, it } from 'vitest';
import { JOB_ERRORS, type JobErrorCode } from '../../src/errors.js';
import { toPublicJob, type JobView } from '../../src/jobs/public-job.js';
import { publicJobJson } from '../../src/jobs/public-job-json.js';
import { JOB_STATUSES, MODEL_KINDS } from '../../src/jobs/types.js';

function view(extra: Partial<JobView>): JobView {
  return {
    id: 'job_01m8rjew5ehh02a1wsgynmpe9m',
    userId: 'alice@example.com',
    status: 'queued',
    priority: 0,
    cancelRequested: false,
    createdAt: 1_764_585_000_123,
    startedAt: null,
    finishedAt: null,
    templateName: null,
    metadata: {},
    progress: null,
    outputs: [],
    error: null,
    models: [],
    ...extra,
  };
}

const started = 1_764_585_000_123 + 1_234;
const finished = started + 98_765;

/** One view per state and per optional part. */
const VIEWS: Array<[string, JobView]> = [
  ...JOB_STATUSES.map((status): [string, JobView] => [`${status}, bare`, view({ status })]),
  [
    'running with progress',
    view({ status: 'running', startedAt: started, progress: { value: 3, max: 20, node: '5' } }),
  ],
  [
    'running with full progress',
    view({
      status: 'running',
      startedAt: started,
      cancelRequested: true,
      progress: { value: 0, max: 1, node: null, class_type: 'KSampler', fraction: 0.4375 },
    }),
  ],
  [
    'progress with undefined optional keys',
    view({
      status: 'running',
      startedAt: started,
      progress: { value: 1, max: 2, node: '3', class_type: undefined, fraction: undefined },
    }),
  ],
  [
    'completed with outputs',
    view({
      status: 'completed',
      startedAt: started,
      finishedAt: finished,
      outputs: [
        {
          index: 0,
          nodeId: '9',
          filename: 'out_00001_.png',
          contentType: 'image/png',
          size: 1234,
          objectKey: 'k0',
        },
        {
          index: 1,
          nodeId: '10',
          filename: 'p "q".webp',
          contentType: 'image/webp',
          size: 0,
          objectKey: 'k1',
          type: 'temp',
        },
        {
          index: 2,
          nodeId: '9',
          filename: 'b.png',
          contentType: 'image/png',
          size: 7,
          objectKey: 'k2',
          type: 'output',
        },
      ],
      models: MODEL_KINDS.map((kind, i) => ({ kind, name: `m${i}/é ü.safetensors` })),
    }),
  ],
  ...Object.keys(JOB_ERRORS).map((code): [string, JobView] => [
    `failed ${code}`,
    view({
      status: 'failed',
      startedAt: started,
      finishedAt: finished,
      error: { code: code as JobErrorCode, message: 'boom' },
    }),
  ]),
  [
    'failed with node and details',
    view({
      status: 'failed',
      finishedAt: started,
      error: {
        code: 'workflow_invalid',
        message: 'Line\nbreak, "quotes", \\ and \u2028',
        nodeId: '4',
        details: [
          { nodeId: '4', classType: 'KSampler', input: 'steps', message: 'Value 0 smaller than min of 1' },
          { nodeId: '7', classType: null, input: null, message: 'missing node' },
        ],
      },
    }),
  ],
  [
    'failed with empty details',
    view({ status: 'failed', finishedAt: started, error: { code: 'timeout', message: 't', details: [] } }),
  ],
  ['cancelled before start', view({ status: 'cancelled', finishedAt: started, cancelRequested: true })],
  [
    'template, priority and metadata',
    view({
      templateName: 'portrait "v2"',
      priority: -7,
      metadata: {
        order: 42,
        nested: { list: [1, 'two', null, true], unicode: '日本 🚀', empty: {} },
        s: '</script>',
      },
    }),
  ],
  [
    'fractional times',
    view({ status: 'completed', createdAt: 0, startedAt: 1, finishedAt: 1_000_000_000_001 }),
  ],
  ['started before created (clock skew)', view({ status: 'running', startedAt: 1_764_585_000_000 })],
  ['large priority', view({ priority: 2 ** 53 - 1 })],
];

describe('publicJobJson', () => {
  it.each(VIEWS)('%s: the same text as JSON.stringify(toPublicJob)', (_name, v) => {
    expect(publicJobJson(v)).toBe(JSON.stringify(toPublicJob(v)));
    expect(JSON.parse(publicJobJson(v))).toEqual(toPublicJob(v));
  });

  it('renders a view with a field the types do not allow as toPublicJob does', () => {
    const odd = { ...view({}), templateName: undefined, priority: Number.NaN } as unknown as JobView;
    expect(publicJobJson(odd)).toBe(JSON.stringify(toPublicJob(odd)));
  });
});
