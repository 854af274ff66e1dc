import { describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../src/api/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('traceparent', () => {
  it('reads the trace id, parent id and sampled flag of a valid header', () => {
    expect(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-01`)).toEqual({
      traceId: TRACE,
      parentId: '00f067aa0ba902b7',
      sampled: true,
    });
    // A later version may append fields.
    expect(parseTraceparent(`01-${TRACE}-00f067aa0ba902b7-00-extra`)?.sampled).toBe(false);
  });

  it('ignores malformed headers', () => {
    for (const bad of [
      undefined,
      ['a', 'b'],
      '',
      `ff-${TRACE}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${TRACE}-00f067aa0ba902b7-01-extra`,
      `00-${TRACE}-00f067aa0ba902b7`,
      `00-${TRACE}-00f067aa0ba902b7-01\n{"level":60}`,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeNull();
    }
  });
});
