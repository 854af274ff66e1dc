/**
 * The hand-written WebSocket frame check (src/comfy/ws-message.ts) accepts and returns exactly what zod's
 * `wsFrameSchema` does, and classifyWsMessage answers as the zod version did (test/comfy/ws-reference.ts): on
 * every frame of the real ComfyUI captures, and on a generated corpus of mutants of them (fields dropped, wrong
 * types, null and undefined, extra and `__proto__` keys, arrays for objects, other frame types, non-objects).
 * "The same value" is strict: deep-equal, the same keys in the same order, `undefined` values kept, plain
 * prototypes.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { wsFrameSchema } from '../../src/comfy/schemas.js';
import { checkWsFrame, classifyWsMessage, KNOWN_FRAME_TYPES } from '../../src/comfy/ws-message.js';
import { capture } from './captures.js';
import { zodClassifyWsMessage, zodFrameTypes } from './ws-reference.js';

/** `v` with each value's kind spelled out: key order, undefined, -0 and NaN, prototypes. */
function layout(v: unknown): unknown {
  if (Array.isArray(v)) return { array: v.map(layout) };
  if (typeof v === 'object' && v !== null) {
    return {
      plain: Object.getPrototypeOf(v) === Object.prototype,
      entries: Reflect.ownKeys(v).map((k) => [String(k), layout(Reflect.get(v, k))]),
    };
  }
  if (v === undefined) return '<undefined>';
  if (Object.is(v, -0)) return '<-0>';
  if (typeof v === 'number' && !Number.isFinite(v)) return `<${String(v)}>`;
  return v;
}

/** Whether two parse results are the same value, strictly. */
function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b) && JSON.stringify(layout(a)) === JSON.stringify(layout(b));
}

/** How the check and zod disagree on `value` (null when they agree); counts what zod accepted. */
function disagreement(value: unknown, tally: { accepted: number; refused: number }): string | null {
  const theirs = wsFrameSchema.safeParse(value);
  const ours = checkWsFrame(value);
  if (theirs.success) tally.accepted++;
  else tally.refused++;
  if (!theirs.success) return ours === null ? null : 'zod refused, the check accepted';
  if (ours === null) return 'zod accepted, the check refused';
  return same(ours, theirs.data) ? null : `values differ: ${JSON.stringify(layout(ours))}`;
}

/** How the two classifications of `text` disagree (null when they agree). */
function classifyDisagreement(text: string): string | null {
  const ours = classifyWsMessage(text, false);
  const theirs = zodClassifyWsMessage(text, false);
  const bytes = classifyWsMessage(Buffer.from(text), false);
  if (ours.kind !== theirs.kind) return `classified ${ours.kind}, zod ${theirs.kind}`;
  if (!same(ours, theirs) || !same(bytes, theirs)) return 'classified frames differ';
  return null;
}

/** A deep copy that keeps an own `__proto__` key own (defineProperty, not assignment). */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (typeof v !== 'object' || v === null) return v;
  const out = {};
  for (const key of Object.keys(v)) setOwn(out, key, clone(Reflect.get(v, key)));
  return out;
}
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const CAPTURES = fileURLToPath(new URL('./captures/', import.meta.url));

/**
 * Every WebSocket frame in the captures (objects with a string `type` and a `data`), and the `[type, data]`
 * events of history `status.messages` as frames, once each.
 */
function capturedFrames(): unknown[] {
  const frames = new Map<string, unknown>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    if (typeof Reflect.get(v, 'type') === 'string' && 'data' in v) frames.set(JSON.stringify(v), v);
    const messages: unknown = Reflect.get(v, 'messages');
    if (Array.isArray(messages)) {
      for (const m of messages) {
        if (Array.isArray(m) && typeof m[0] === 'string') {
          const frame = { type: m[0], data: m[1] };
          frames.set(JSON.stringify(frame), frame);
        }
      }
    }
    for (const value of Object.values(v)) walk(value);
  };
  for (const file of readdirSync(CAPTURES).filter((f) => f.endsWith('.json'))) walk(capture(file));
  return [...frames.values()];
}

/** Frames the other comfy tests send (client-protocol.test.ts, the stand-in server). */
const FIXTURE_FRAMES: unknown[] = [
  { type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'x' } },
  { type: 'brand_new_event', data: { prompt_id: 'p-frames' } },
  { type: 'execution_start', data: { prompt_id: 'p-frames', timestamp: 1 } },
  { type: 'progress', data: { value: 1, max: 2, node: '2' } },
  { type: 'progress', data: { value: 1, max: 9, node: '2', prompt_id: 'someone-else' } },
  { type: 'executing', data: { node: null, prompt_id: 'p-frames' } },
  { type: 'progress', data: { value: 1, max: 4, node: '2', prompt_id: 'p' } },
  { type: 'executed', data: { output: {}, prompt_id: 'p' } },
  { type: 'execution_success', data: { prompt_id: 'p' } },
];

/** An object whose own key `__proto__` is data, as JSON.parse makes it. */
const protoKeyed = (): unknown => JSON.parse('{"__proto__":{"x":1},"k":1}');

/** What a field may be replaced with: every JSON kind, the numbers z.number() refuses, objects of each level. */
const REPLACEMENTS: (() => unknown)[] = [
  () => undefined,
  () => null,
  () => 0,
  () => -0,
  () => 7,
  () => 1.5,
  () => -3,
  () => 1e21,
  () => Number.NaN,
  () => Number.POSITIVE_INFINITY,
  () => Number.NEGATIVE_INFINITY,
  () => '',
  () => '5',
  () => 'x',
  () => true,
  () => false,
  () => [],
  () => ['1', 2],
  () => [null],
  () => [1.5, Number.NaN],
  () => [[]],
  () => ({}),
  () => ({ a: 1 }),
  protoKeyed,
  () => ({ queue_remaining: 1 }),
  () => ({ exec_info: { queue_remaining: 2 } }),
  () => ({ exec_info: { queue_remaining: '2' } }),
];

/** The keys a zod schema declares, at any level of its objects (through optional and nullable). */
function declaredKeys(schema: z.ZodType, into = new Set<string>()): Set<string> {
  if (schema instanceof z.ZodObject) {
    for (const [key, inner] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      into.add(key);
      declaredKeys(inner, into);
    }
  } else if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    declaredKeys(schema.unwrap() as z.ZodType, into);
  }
  return into;
}

/** Every key any frame type declares, at any level. */
const DECLARED_KEYS = [
  ...wsFrameSchema.options.reduce((keys, o) => declaredKeys(o, keys), new Set<string>()),
];

/** The frame's keys and kinds of values, to mutate each shape of frame once. */
const signature = (v: unknown): string =>
  JSON.stringify(v, (_key, value: unknown) =>
    typeof value === 'object' && value !== null ? value : `${typeof value}`,
  );

/** The paths of every object and array inside `v` (the root included), to depth 4. */
function containers(v: unknown, path: string[] = []): string[][] {
  if (typeof v !== 'object' || v === null || path.length > 4) return [];
  const out = [path];
  for (const key of Object.keys(v)) out.push(...containers(Reflect.get(v, key), [...path, key]));
  return out;
}

/** A copy of `frame` with `change` applied to the container at `path`. */
function mutate(frame: unknown, path: string[], change: (container: object) => void): unknown {
  const copy = clone(frame);
  let at: unknown = copy;
  for (const key of path) at = Reflect.get(at as object, key);
  change(at as object);
  return copy;
}

/** The mutants of one frame: each key dropped or replaced, declared and extra keys added, at every level. */
function* mutants(frame: unknown): Generator<unknown> {
  for (const path of containers(frame)) {
    const node: unknown = path.reduce<unknown>((at, key) => Reflect.get(at as object, key), frame);
    for (const key of Object.keys(node as object)) {
      yield mutate(frame, path, (c) => Reflect.deleteProperty(c, key));
      for (const make of REPLACEMENTS) yield mutate(frame, path, (c) => setOwn(c, key, make()));
    }
    if (Array.isArray(node)) continue;
    for (const key of [...DECLARED_KEYS, 'extra', '__proto__', 'constructor', 'toString', '0']) {
      if (Object.hasOwn(node as object, key)) continue;
      for (const make of REPLACEMENTS) yield mutate(frame, path, (c) => setOwn(c, key, make()));
    }
  }
  const data: unknown = Reflect.get(frame as object, 'data');
  for (const type of [...zodFrameTypes, 'progress_state', 'feature_flags', '', 'Status']) {
    yield { type, data: clone(data) };
  }
  yield [clone(frame)];
  yield { data: clone(data), type: Reflect.get(frame as object, 'type'), extra: { nested: [1] } };
}

describe('the WebSocket frame check', () => {
  const frames = [...capturedFrames(), ...FIXTURE_FRAMES];

  it('knows the frame types wsFrameSchema declares', () => {
    expect([...KNOWN_FRAME_TYPES].sort()).toEqual([...zodFrameTypes].sort());
  });

  it('returns what zod returns for every captured and fixture frame', () => {
    expect(frames.length).toBeGreaterThan(40);
    const tally = { accepted: 0, refused: 0 };
    const problems: string[] = [];
    for (const frame of frames) {
      const text = JSON.stringify(frame);
      const why = disagreement(JSON.parse(text), tally) ?? classifyDisagreement(text);
      if (why !== null) problems.push(`${text}: ${why}`);
    }
    expect(problems).toEqual([]);
    // Every type Arrakis acts on is in the captures, and so are frames it ignores.
    const types = new Set(frames.map((f) => Reflect.get(f as object, 'type')));
    for (const type of zodFrameTypes) expect(types).toContain(type);
    expect(tally.accepted).toBeGreaterThan(40);
    expect(tally.refused).toBeGreaterThan(5);
  });

  it('agrees with zod on a generated corpus of mutated frames, in value and as parsed JSON text', () => {
    const tally = { accepted: 0, refused: 0 };
    const problems: string[] = [];
    const bases = new Map<string, unknown>();
    for (const f of frames) {
      if (KNOWN_FRAME_TYPES.has(Reflect.get(f as object, 'type'))) bases.set(signature(f), f);
    }
    expect(bases.size).toBeGreaterThan(12);
    for (const frame of [...bases.values(), { type: 'progress_state', data: { value: 1 } }]) {
      for (const mutant of mutants(frame)) {
        const why = disagreement(mutant, tally);
        if (why !== null) problems.push(`${JSON.stringify(layout(mutant))}: ${why}`);
        const text = JSON.stringify(mutant);
        const textWhy = text === undefined ? null : classifyDisagreement(text);
        if (textWhy !== null) problems.push(`${text}: ${textWhy}`);
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
    expect(tally.accepted).toBeGreaterThan(10_000);
    expect(tally.refused).toBeGreaterThan(3_000);
  });

  it('agrees with zod on values that are not frames at all', () => {
    const tally = { accepted: 0, refused: 0 };
    const values = [...REPLACEMENTS.map((make) => make()), 'status', { type: 'status' }, Object.create(null)];
    const problems = values.map((v) => disagreement(v, tally)).filter((why) => why !== null);
    expect(problems).toEqual([]);
    expect(tally.accepted).toBe(0);
  });

  it('drops an own "__proto__" key at every level as zod does, never setting a prototype', () => {
    const texts = [
      '{"type":"execution_start","__proto__":{"x":1},"data":{"prompt_id":"p"}}',
      '{"type":"execution_start","data":{"__proto__":{"x":1},"prompt_id":"p","a":1}}',
      '{"type":"executed","data":{"node":3,"__proto__":5,"output":{"__proto__":{"y":2}}}}',
      '{"type":"status","data":{"status":{"__proto__":[],"exec_info":{"queue_remaining":0,"__proto__":{"q":1}}}}}',
    ];
    for (const text of texts) {
      const ours = checkWsFrame(JSON.parse(text));
      const theirs = wsFrameSchema.parse(JSON.parse(text));
      expect(same(ours, theirs)).toBe(true);
      expect(Object.getPrototypeOf(ours?.data)).toBe(Object.prototype);
      expect(Object.hasOwn(ours ?? {}, '__proto__')).toBe(false);
      expect(Object.hasOwn(ours?.data ?? {}, '__proto__')).toBe(false);
    }
    // A value under z.unknown() (executed's `output`) is kept as is, its own "__proto__" key included.
    const executed = checkWsFrame(JSON.parse(texts[2] ?? ''));
    expect(executed?.type === 'executed' && Object.hasOwn(executed.data.output as object, '__proto__')).toBe(
      true,
    );
  });

  it('keeps a loose object unknown keys after the declared ones, and turns numeric node ids into strings', () => {
    const frame = checkWsFrame({
      data: { display_node: 4, node: 4, zz: [1], prompt_id: 'p', output: undefined },
      type: 'executed',
      dropped: true,
    });
    expect(JSON.stringify(frame)).toBe(
      '{"type":"executed","data":{"prompt_id":"p","node":"4","display_node":4,"zz":[1]}}',
    );
    expect(frame !== null && Object.keys(frame.data)).toEqual([
      'prompt_id',
      'node',
      'output',
      'display_node',
      'zz',
    ]);
    expect(checkWsFrame({ type: 'progress', data: { value: 1, max: Number.NaN } })).toBeNull();
    expect(checkWsFrame({ type: 'executing', data: { node: Number.POSITIVE_INFINITY } })).toBeNull();
  });
});

describe('classifyWsMessage', () => {
  it('calls a known type with a bad shape malformed, an unknown type or a non-frame ignored', () => {
    const kinds: [string, string][] = [
      ['{"type":"progress","data":{"value":"x","max":1}}', 'malformed'],
      ['{"type":"status"}', 'malformed'],
      ['{"type":"status","data":{"status":null}}', 'malformed'],
      ['{"type":"status","data":{"status":{"exec_info":{}}}}', 'malformed'],
      ['{"type":"execution_cached","data":{"nodes":{"0":"1"}}}', 'malformed'],
      ['{"type":"executing","data":[]}', 'malformed'],
      ['{"type":"executed","data":{"node":null}}', 'malformed'],
      ['{"type":', 'malformed'],
      ['{"type":"progress_state","data":{"value":"x"}}', 'ignored'],
      ['{"type":null,"data":{}}', 'ignored'],
      ['{"data":{}}', 'ignored'],
      ['[{"type":"status","data":{}}]', 'ignored'],
      ['null', 'ignored'],
      ['"status"', 'ignored'],
      ['{"type":"status","data":{}}', 'frame'],
      ['{"type":"executing","data":{"node":null}}', 'frame'],
    ];
    for (const [text, kind] of kinds) {
      expect([text, classifyWsMessage(text, false).kind]).toEqual([text, kind]);
      expect(zodClassifyWsMessage(text, false).kind).toBe(kind);
    }
    expect(classifyWsMessage('{"type":"status","data":{}}', true).kind).toBe('ignored');
  });
});
