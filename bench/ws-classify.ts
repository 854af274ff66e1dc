/**
 * Per-frame cost of classifyWsMessage (issue 14): the hand-written frame check against the zod `wsFrameSchema`
 * parse it replaced (test/comfy/ws-reference.ts), on the real frame mix of a prompt — every text frame of the
 * captured basic prompt and of its cached rerun, in order (status, execution_start/cached, executing,
 * progress_state, progress, executed, execution_success), as the Buffers the socket hands over.
 * Run: node --import tsx bench/ws-classify.ts [--ms 2000]
 * Prints CPU µs per frame (process.cpuUsage; the fastest of 40 rounds) over the whole mix and over the frames of
 * types Arrakis acts on, and per prompt (the basic capture's 30 text frames); then the check alone on parsed JSON.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { wsFrameSchema } from '../src/comfy/schemas.js';
import { checkWsFrame, classifyWsMessage, type WsMessage } from '../src/comfy/ws-message.js';
import { zodClassifyWsMessage } from '../test/comfy/ws-reference.js';

const { values } = parseArgs({ options: { ms: { type: 'string', default: '2000' } } });
const BUDGET_MS = Number(values.ms);
const ROUNDS = 40;

/** The text frames of one captured WebSocket session, as Buffers (binary previews are recorded as notes). */
function textFrames(file: string): Buffer[] {
  const url = new URL(`../test/comfy/captures/${file}`, import.meta.url);
  const frames: unknown = JSON.parse(readFileSync(url, 'utf8'));
  if (!Array.isArray(frames)) throw new Error(`${file}: not an array of frames`);
  return frames
    .filter((f: unknown) => typeof f === 'object' && f !== null && 'type' in f)
    .map((f: unknown) => Buffer.from(JSON.stringify(f)));
}

const basic = textFrames('basic-ws.json');
const mix = [...basic, ...textFrames('cached-rerun-ws.json')];

/** CPU time of this process in µs (user + system): steadier than wall time on a machine shared with others. */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per frame of `fn` over `frames`: the fastest of ROUNDS rounds after a warm-up. */
function measure<T>(frames: readonly T[], fn: (frame: T) => unknown): number {
  const round = (ms: number): number => {
    let calls = 0;
    const cpu = cpuMicros();
    const start = performance.now();
    while (performance.now() - start < ms) {
      for (const frame of frames) fn(frame);
      calls += frames.length;
    }
    return (cpuMicros() - cpu) / calls;
  };
  round(BUDGET_MS / 3);
  let best = Infinity;
  for (let i = 0; i < ROUNDS; i++) best = Math.min(best, round(BUDGET_MS / ROUNDS));
  return best;
}

const kinds = (classify: (f: Buffer, b: boolean) => WsMessage): string =>
  mix.map((f) => classify(f, false).kind).join(',');
if (kinds(classifyWsMessage) !== kinds(zodClassifyWsMessage))
  throw new Error('the two classifications differ');

const cases: [string, (frame: Buffer) => unknown][] = [
  ['classifyWsMessage (hand check)', (f) => classifyWsMessage(f, false)],
  ['  zod wsFrameSchema (replaced)', (f) => zodClassifyWsMessage(f, false)],
  ['  JSON.parse(toString) alone', (f) => JSON.parse(f.toString('utf8'))],
];
// Every case runs once unreported first, so none is timed while V8 is still compiling the shared code.
for (const [, fn] of cases) for (let i = 0; i < 2_000; i++) for (const f of mix) fn(f);
const actedOn = mix.filter((f) => classifyWsMessage(f, false).kind === 'frame');
console.log(
  `${mix.length} text frames (${actedOn.length} of types Arrakis acts on); the basic prompt's session has ${basic.length}`,
);
for (const [name, fn] of cases) {
  const perFrame = measure(mix, fn);
  const perActed = measure(actedOn, fn);
  console.log(
    `${name.padEnd(32)} ${perFrame.toFixed(2).padStart(6)} µs/frame (mix) ${perActed.toFixed(2).padStart(6)} µs/frame (acted on) ${(perFrame * basic.length).toFixed(1).padStart(6)} µs/prompt`,
  );
}

// The check alone, on frames already parsed: what the classification adds to JSON.parse.
const parsed = (frames: readonly Buffer[]): unknown[] => frames.map((f) => JSON.parse(f.toString('utf8')));
const checks: [string, (json: unknown) => unknown][] = [
  ['checkWsFrame (parsed JSON)', checkWsFrame],
  ['  wsFrameSchema.safeParse', (json) => wsFrameSchema.safeParse(json)],
];
for (const [, fn] of checks) for (let i = 0; i < 2_000; i++) for (const j of parsed(mix)) fn(j);
for (const [name, fn] of checks) {
  const perFrame = measure(parsed(mix), fn);
  const perActed = measure(parsed(actedOn), fn);
  console.log(
    `${name.padEnd(32)} ${perFrame.toFixed(2).padStart(6)} µs/frame (mix) ${perActed.toFixed(2).padStart(6)} µs/frame (acted on) ${(perFrame * basic.length).toFixed(1).padStart(6)} µs/prompt`,
  );
}
