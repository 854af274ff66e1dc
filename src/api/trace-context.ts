/**
 * W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): a request that arrives inside a
 * caller's trace keeps the caller's trace id on our log lines, so one id finds the request in both systems.
 * Only the header's form is checked; an invalid header is ignored, as the spec asks, never an error.
 */

/** `version-traceid-parentid-flags`, lowercase hex. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface TraceContext {
  traceId: string;
  /** The caller's span (our parent). */
  parentId: string;
  sampled: boolean;
}

/** The trace context of a `traceparent` header, or null when it is absent or malformed. */
export function parseTraceparent(header: string | string[] | undefined): TraceContext | null {
  if (typeof header !== 'string' || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (m === null) return null;
  const [, version, traceId, parentId, flags, rest] = m;
  if (version === undefined || traceId === undefined || parentId === undefined || flags === undefined) {
    return null;
  }
  // Version ff is forbidden; version 00 has exactly four fields; later versions may append more.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return { traceId, parentId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}
