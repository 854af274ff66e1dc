/**
 * publicJobJson is exactly JSON.stringify(toPublicJob(job)), byte for byte, for every job state and every
 * optional part (progress, outputs, error details, metadata, models), and falls back to it for a view whose
 * fields the types do not allow.
 */
import { describe, expect, it } from 'vitest';
import { JOB_ERRORS, type JobErrorCode } from '../../src/errors.js';
import { toPublicJob, type JobView, type PublicJob } from '../../src/jobs/public-job.js';
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

/** How a `Prefer: wait` answer was built before it was text: toPublicJob with its output URLs made absolute. */
function withAbsoluteUrls(job: PublicJob, origin: string): PublicJob {
  return { ...job, outputs: job.outputs.map((o) => ({ ...o, url: `${origin}${o.url}` })) };
}

describe('publicJobJson', () => {
  it.each(VIEWS)('%s: the same text as JSON.stringify(toPublicJob)', (_name, v) => {
    expect(publicJobJson(v)).toBe(JSON.stringify(toPublicJob(v)));
    expect(JSON.parse(publicJobJson(v))).toEqual(toPublicJob(v));
  });

  it('renders a view with a field the types do not allow as toPublicJob does', () => {
    const odd = { ...view({}), templateName: undefined, priority: Number.NaN } as unknown as JobView;
    expect(publicJobJson(odd)).toBe(JSON.stringify(toPublicJob(odd)));
    const origin = 'https://api.example.com';
    expect(publicJobJson(odd, origin)).toBe(JSON.stringify(withAbsoluteUrls(toPublicJob(odd), origin)));
  });

  it.each(VIEWS)(
    '%s: with an origin, the same text as a `Prefer: wait` answer with absolute URLs',
    (_name, v) => {
      const origin = 'http://127.0.0.1:8080';
      expect(publicJobJson(v, origin)).toBe(JSON.stringify(withAbsoluteUrls(toPublicJob(v), origin)));
    },
  );
});

/** A small seeded generator (mulberry32), so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters JSON text must escape or may get wrong: quotes, backslash, controls, line separators, surrogates. */
const HARD = [
  '"',
  '\\',
  '/',
  '\u0000',
  '\u0008',
  '\t',
  '\n',
  '\r',
  '\u001f',
  '\u007f',
  '\u2028',
  '\u2029',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '\ud83d\ude80',
  '\ufeff',
  'é',
  '日',
  '<',
  '>',
  '&',
  "'",
  '`',
  'a',
  ' ',
];

function generators(next: () => number) {
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const str = (): string => {
    let s = '';
    for (let i = int(12); i > 0; i--) s += next() < 0.7 ? pick(HARD) : String.fromCharCode(int(0x10000));
    return s;
  };
  const num = (): number =>
    pick([0, -0, 1, -1, 0.1, 1e21, -1e-7, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, int(1000) - 500]);
  const value = (depth: number): unknown => {
    const k = int(depth > 2 ? 4 : 6);
    if (k === 0) return str();
    if (k === 1) return num();
    if (k === 2) return pick([true, false, null]);
    if (k === 3) return undefined;
    if (k === 4) return Array.from({ length: int(4) }, () => value(depth + 1));
    return record(depth + 1);
  };
  const record = (depth: number): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let i = int(5); i > 0; i--) o[next() < 0.2 ? String(int(100)) : str()] = value(depth);
    return o;
  };
  return { int, pick, str, num, record, next };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function randomView(seed: number): JobView {
  const g = generators(rng(seed));
  const createdAt = g.int(2 ** 42);
  const startedAt = g.next() < 0.5 ? null : createdAt + g.int(10_000_000) - 1000;
  const finishedAt = g.next() < 0.5 ? null : (startedAt ?? createdAt) + g.int(10_000_000);
  return view({
    id: g.str(),
    userId: g.str(),
    status: g.pick(JOB_STATUSES),
    priority: g.num(),
    cancelRequested: g.next() < 0.5,
    createdAt,
    startedAt,
    finishedAt,
    templateName: g.next() < 0.5 ? null : g.str(),
    metadata: g.record(0),
    progress:
      g.next() < 0.4
        ? null
        : {
            value: g.num(),
            max: g.num(),
            node: g.next() < 0.3 ? null : g.str(),
            ...(g.next() < 0.5 ? {} : { class_type: g.pick([null, undefined, g.str()]) }),
            ...(g.next() < 0.5 ? {} : { fraction: g.pick([undefined, g.next()]) }),
          },
    outputs: Array.from({ length: g.int(4) }, (_, index) => ({
      index,
      nodeId: g.str(),
      filename: g.str(),
      contentType: g.str(),
      size: g.int(1e9),
      objectKey: g.str(),
      ...(g.next() < 0.5 ? {} : { type: g.pick(['output', 'temp', undefined] as const) }),
    })),
    error:
      g.next() < 0.5
        ? null
        : {
            code: g.pick(Object.keys(JOB_ERRORS)) as JobErrorCode,
            message: g.str(),
            ...(g.next() < 0.5 ? {} : { nodeId: g.str() }),
            ...(g.next() < 0.5
              ? {}
              : {
                  details: Array.from({ length: g.int(3) }, () => ({
                    nodeId: g.str(),
                    classType: g.next() < 0.3 ? null : g.str(),
                    input: g.next() < 0.3 ? null : g.str(),
                    message: g.str(),
                  })),
                }),
          },
    models: Array.from({ length: g.int(3) }, () => ({ kind: g.pick(MODEL_KINDS), name: g.str() })),
  });
}

describe('publicJobJson, property style', () => {
  it('equals JSON.stringify(toPublicJob) for 3,000 random views full of characters JSON must escape', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const v = randomView(seed);
      const text = publicJobJson(v);
      expect(text, `seed ${seed}`).toBe(JSON.stringify(toPublicJob(v)));
      // Valid JSON text: no raw control character, no lone surrogate (both escaped), and it reads back.
      expect(/[\u0000-\u001f]/.test(text), `seed ${seed}`).toBe(false);
      expect(LONE_SURROGATE.test(text), `seed ${seed}`).toBe(false);
      expect(JSON.parse(text), `seed ${seed}`).toEqual(JSON.parse(JSON.stringify(toPublicJob(v))));
    }
  });
});
