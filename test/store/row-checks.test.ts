/**
 * The hand-written row checks (the workflow column, job_events rows) accept and return exactly what the zod
 * schemas they replaced did, and a malformed row fails with an error naming the table, column and problem.
 */
import { describe, expect, it } from 'vitest';
import { toJobEvent } from '../../src/store/job-event-row.js';
import { toJob } from '../../src/store/rows.js';
import { MalformedRowError } from '../../src/store/row-checks.js';
import { parseWorkflowColumn } from '../../src/store/workflow-column.js';
import { zodJobEventRowSchema, zodWorkflowSchema } from './row-references.js';

/** Whether the zod parse threw (a ZodError, or JSON.parse's SyntaxError inside a transform). */
function refuses(parse: () => unknown): boolean {
  try {
    parse();
    return false;
  } catch {
    return true;
  }
}

const workflows: unknown[] = [
  { '1': { class_type: 'A', inputs: {} } },
  { '3': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 5 }, _meta: { title: 'S' } } },
  { '1': { class_type: 'A', inputs: { x: null }, _meta: null, extra: 'dropped', is_changed: [1] } },
  {},
  { a: { class_type: '', inputs: { nested: { deep: [1, { x: 2 }] } } }, b: { inputs: {}, class_type: 'B' } },
];
const badWorkflows: [unknown, RegExp][] = [
  [[], /workflow is an array, not an object/],
  [null, /workflow is null, not an object/],
  [{ '7': 'x' }, /node 7: is a string, not an object/],
  [{ '7': [] }, /node 7: is an array, not an object/],
  [{ '7': { inputs: {} } }, /node 7: class_type is a undefined, not a string/],
  [{ '7': { class_type: 3, inputs: {} } }, /node 7: class_type is a number, not a string/],
  [{ '7': { class_type: 'A' } }, /node 7: inputs is a undefined, not an object/],
  [{ '7': { class_type: 'A', inputs: [1] } }, /node 7: inputs is an array, not an object/],
];

describe('the workflow column', () => {
  it('returns what the zod schema returned: the same nodes, extra node keys dropped', () => {
    for (const w of workflows) {
      const text = JSON.stringify(w);
      const ours = parseWorkflowColumn('jobs', text);
      expect(ours).toStrictEqual(zodWorkflowSchema.parse(JSON.parse(text)));
      expect(JSON.stringify(ours)).toBe(JSON.stringify(zodWorkflowSchema.parse(JSON.parse(text))));
    }
  });

  it('refuses what the zod schema refused, naming the table, node and problem', () => {
    for (const [w, why] of badWorkflows) {
      const text = JSON.stringify(w);
      expect(refuses(() => zodWorkflowSchema.parse(JSON.parse(text)))).toBe(true);
      const run = (): unknown => parseWorkflowColumn('templates', text);
      expect(run).toThrow(MalformedRowError);
      expect(run).toThrow(/^malformed templates row: /);
      expect(run).toThrow(why);
    }
    expect(() => parseWorkflowColumn('jobs', '{"1":')).toThrow(/malformed jobs row: workflow is not JSON/);
  });

  it('drops a "__proto__" key as zod did (a node of any value, an input), never setting a prototype', () => {
    const texts = [
      '{"__proto__":{"class_type":"A","inputs":{}},"1":{"class_type":"B","inputs":{}}}',
      '{"__proto__":5,"1":{"class_type":"B","inputs":{}}}',
      '{"1":{"class_type":"B","inputs":{"__proto__":{"x":1},"a":1}}}',
      '{"1":{"class_type":"B","inputs":{"a":1,"__proto__":2},"_meta":{"title":"t"}}}',
    ];
    for (const text of texts) {
      const ours = parseWorkflowColumn('jobs', text);
      const theirs = zodWorkflowSchema.parse(JSON.parse(text));
      expect(Object.getPrototypeOf(ours)).toBe(Object.prototype);
      const ids: string[] = [];
      for (const id in ours) ids.push(id);
      expect(ids).toEqual(['1']);
      expect(ours).toStrictEqual(theirs);
      expect(JSON.stringify(ours)).toBe(JSON.stringify(theirs));
    }
  });

  it('a job row with a malformed workflow fails to read', () => {
    const row = {
      id: 'job_1',
      account_id: 'a',
      user_id: 'u',
      status: 'queued',
      priority: 0,
      pool: 'default',
      cancel_requested: 0,
      created_at: 1,
      started_at: null,
      finished_at: null,
      workflow: JSON.stringify({ '1': { class_type: 'A', inputs: {} } }),
      template_name: null,
      inputs: '[]',
      inputs_ready: 1,
      webhook_url: null,
      metadata: '{}',
      progress: null,
      outputs: '[]',
      error: null,
      attempts: 0,
      worker_id: null,
      lease_expires_at: null,
      idempotency_key: null,
      models: '[]',
    };
    expect(toJob(row).workflow).toEqual({ '1': { class_type: 'A', inputs: {} } });
    expect(() => toJob({ ...row, workflow: '{"1":{"inputs":{}}}' })).toThrow(
      /malformed jobs row: workflow node 1: class_type/,
    );
  });
});

const event = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  job_id: 'job_1',
  seq: 3,
  type: 'output',
  data: JSON.stringify({ index: 0, url: '/v1/jobs/job_1/outputs/0', nested: { a: [1] } }),
  at: 1_717_000_000_000,
  ...over,
});

describe('job_events rows', () => {
  it('read as the zod row schema read them', () => {
    for (const type of ['status', 'progress', 'output', 'done']) {
      const row = event({ type });
      expect(toJobEvent(row)).toStrictEqual(zodJobEventRowSchema.parse(row));
    }
    expect(toJobEvent(event({ data: '{}' })).data).toStrictEqual({});
    // zod's record dropped a "__proto__" key of the data.
    const proto = event({ data: '{"__proto__":{"x":1},"a":2}' });
    expect(JSON.stringify(toJobEvent(proto).data)).toBe(
      JSON.stringify(zodJobEventRowSchema.parse(proto).data),
    );
    expect(toJobEvent(proto)).toStrictEqual(zodJobEventRowSchema.parse(proto));
  });

  const bad: [Record<string, unknown> | null, RegExp][] = [
    [null, /malformed job_events row: row is null/],
    [event({ job_id: 7 }), /malformed job_events row: job_id is a number, not a string/],
    [event({ seq: '3' }), /malformed job_events row: seq is a string, not a number/],
    [event({ seq: Number.NaN }), /malformed job_events row: seq is a number, not a number/],
    [
      event({ type: 'log' }),
      /malformed job_events row: type is "log", not one of status, progress, output, done/,
    ],
    [event({ at: null }), /malformed job_events row: at is null, not a number/],
    [event({ data: null }), /malformed job_events row: data is null, not JSON text/],
    [event({ data: '{"a":' }), /malformed job_events row: data is not JSON/],
    [event({ data: '[1]' }), /malformed job_events row: data is an array, not a JSON object/],
    [event({ data: '"x"' }), /malformed job_events row: data is a string, not a JSON object/],
  ];
  it('a malformed row fails with the column and the problem, where zod failed too', () => {
    for (const [row, why] of bad) {
      expect(refuses(() => zodJobEventRowSchema.parse(row))).toBe(true);
      expect(() => toJobEvent(row)).toThrow(MalformedRowError);
      expect(() => toJobEvent(row)).toThrow(why);
    }
  });
});
