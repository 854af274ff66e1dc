/**
 * ComfyUI WebSocket messages → the frames Arrakis acts on. Every prompt brings 10 – 15 text frames, and a zod
 * walk of `wsFrameSchema` cost more than the JSON.parse before it (bench/ws-classify.ts, issue 14). The check
 * here is that schema written out: it accepts exactly what `wsFrameSchema` accepts and returns an equal value,
 * key order included (the schema's keys in its order, then a loose object's other keys in input order, an own
 * `"__proto__"` key dropped, numeric node ids turned into strings). `wsFrameSchema` stays the reference
 * (test/comfy/ws-message.test.ts compares the two).
 */
import type { WsFrame } from './schemas.js';

/** A value refused by a check (checks return the parsed value, which may be `undefined` or `null`). */
const BAD: unique symbol = Symbol('refused');
type Check = (v: unknown) => unknown;

/** A non-null object that is not an array (what zod's object accepts). */
function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** z.number(): finite numbers only. */
const number: Check = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : BAD);
const string: Check = (v) => (typeof v === 'string' ? v : BAD);
const unknown: Check = (v) => v;
/** nodeIdSchema: a string, or a number turned into one. */
const nodeId: Check = (v) =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : BAD;
const nullable =
  (check: Check): Check =>
  (v) =>
    v === null ? null : check(v);
const arrayOf =
  (check: Check): Check =>
  (v) => {
    if (!Array.isArray(v)) return BAD;
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      const item = check(v[i]);
      if (item === BAD) return BAD;
      out.push(item);
    }
    return out;
  };

/** One declared key of an object schema. `optional`: it may be absent (and then stays absent in the result). */
interface Field {
  key: string;
  check: Check;
  optional: boolean;
}
const required = (key: string, check: Check): Field => ({ key, check, optional: false });
/** `.optional()`: absent stays absent; present as `undefined` stays so (zod keeps a key that is `in` the input). */
const optional = (key: string, check: Check): Field => ({
  key,
  check: (v) => (v === undefined ? undefined : check(v)),
  optional: true,
});

/**
 * z.looseObject(shape): the declared keys in shape order (read with `in` and `[]`, as zod does, so inherited
 * ones count), then every other enumerable key in `for...in` order with its value as is, except `__proto__`,
 * which zod skips (assigning it would set the result's prototype).
 */
function looseObject(fields: readonly Field[]): Check {
  const declared = new Set(fields.map((f) => f.key));
  return (v) => {
    if (!isRecord(v)) return BAD;
    const out: Record<string, unknown> = {};
    for (const { key, check, optional: mayBeAbsent } of fields) {
      if (!(key in v)) {
        // Every required field here refuses `undefined`, so an absent one fails as zod's check of it does.
        if (mayBeAbsent) continue;
        return BAD;
      }
      const value = check(v[key]);
      if (value === BAD) return BAD;
      out[key] = value;
    }
    for (const key in v) {
      if (key !== '__proto__' && !declared.has(key)) out[key] = v[key];
    }
    return out;
  };
}

const promptId = optional('prompt_id', string);
const nodeIdOrNull = nullable(nodeId);

/** The `data` check of each frame type, as wsFrameSchema declares it (same fields, same order). */
const FRAME_DATA: ReadonlyMap<unknown, Check> = new Map<string, Check>([
  [
    'status',
    looseObject([
      optional(
        'status',
        looseObject([required('exec_info', looseObject([required('queue_remaining', number)]))]),
      ),
      optional('sid', string),
    ]),
  ],
  ['execution_start', looseObject([promptId])],
  ['execution_cached', looseObject([promptId, optional('nodes', arrayOf(nodeId))])],
  ['executing', looseObject([promptId, optional('node', nodeIdOrNull)])],
  [
    'progress',
    looseObject([
      promptId,
      required('value', number),
      required('max', number),
      optional('node', nodeIdOrNull),
    ]),
  ],
  ['executed', looseObject([promptId, required('node', nodeId), optional('output', unknown)])],
  ['execution_success', looseObject([promptId])],
  [
    'execution_error',
    looseObject([
      promptId,
      optional('node_id', nodeIdOrNull),
      optional('node_type', nullable(string)),
      optional('exception_message', string),
    ]),
  ],
  [
    'execution_interrupted',
    looseObject([promptId, optional('node_id', nodeIdOrNull), optional('node_type', nullable(string))]),
  ],
]);

/** The frame types Arrakis acts on (wsFrameSchema's options). */
export const KNOWN_FRAME_TYPES: ReadonlySet<unknown> = new Set(FRAME_DATA.keys());

/** What `wsFrameSchema.safeParse(json)` returns as data when it succeeds, else null. */
export function checkWsFrame(json: unknown): WsFrame | null {
  if (!isRecord(json)) return null;
  const type = json.type;
  const dataCheck = FRAME_DATA.get(type);
  if (dataCheck === undefined) return null;
  const data = dataCheck(json.data);
  if (data === BAD) return null;
  // The check above is wsFrameSchema's, field for field (the tests hold them equal): this is the type it infers.
  return { type, data } as WsFrame;
}

/** A WebSocket message: a frame Arrakis acts on, one it ignores, or text that should have parsed but did not. */
export type WsMessage =
  | { kind: 'frame'; frame: WsFrame }
  /** Binary frames (previews: uint32 BE event type, then payload) and text frames of types Arrakis does not use. */
  | { kind: 'ignored' }
  /** Invalid JSON, or a type Arrakis acts on with a shape it does not accept: a frame may have been lost. */
  | { kind: 'malformed' };

/** Classifies one WebSocket message; never throws (a socket must not fail on what it does not use). */
export function classifyWsMessage(data: Buffer | string, isBinary: boolean): WsMessage {
  if (isBinary) return { kind: 'ignored' };
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return { kind: 'malformed' };
  }
  const frame = checkWsFrame(json);
  if (frame !== null) return { kind: 'frame', frame };
  const type = typeof json === 'object' && json !== null ? Reflect.get(json, 'type') : undefined;
  return KNOWN_FRAME_TYPES.has(type) ? { kind: 'malformed' } : { kind: 'ignored' };
}
