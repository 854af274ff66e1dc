/**
 * classifyWsMessage as it was before the hand-written frame check (src/comfy/ws-message.ts): JSON.parse, then
 * zod's `wsFrameSchema`. The oracle test/comfy/ws-message.test.ts compares the check with, and the reference
 * bench/ws-classify.ts times it against.
 */
import { wsFrameSchema } from '../../src/comfy/schemas.js';
import type { WsMessage } from '../../src/comfy/ws-message.js';

const ZOD_FRAME_TYPES: ReadonlySet<unknown> = new Set(wsFrameSchema.options.map((o) => o.shape.type.value));

/** The frame types wsFrameSchema declares. */
export const zodFrameTypes: readonly string[] = wsFrameSchema.options.map((o) => o.shape.type.value);

/** The zod classification of one WebSocket message. */
export function zodClassifyWsMessage(data: Buffer | string, isBinary: boolean): WsMessage {
  if (isBinary) return { kind: 'ignored' };
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return { kind: 'malformed' };
  }
  const parsed = wsFrameSchema.safeParse(json);
  if (parsed.success) return { kind: 'frame', frame: parsed.data };
  const type = typeof json === 'object' && json !== null ? Reflect.get(json, 'type') : undefined;
  return ZOD_FRAME_TYPES.has(type) ? { kind: 'malformed' } : { kind: 'ignored' };
}
