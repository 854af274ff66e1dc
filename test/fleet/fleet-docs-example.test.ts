/** The fleet file docs/fleet.md shows is one an operator can copy: it parses, and says what the text says. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';

function docsExample(): string {
  const doc = readFileSync(new URL('../../docs/fleet.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Writing a fleet file'));
  const match = /```yaml\n([\s\S]*?)```/.exec(section);
  if (match?.[1] === undefined)
    throw new Error('docs/fleet.md has no yaml example under "Writing a fleet file"');
  return match[1];
}

describe('docs/fleet.md example', () => {
  it('parses as a fleet file (no duplicate keys, every key known)', () => {
    const fleet = parseFleetFile(docsExample(), 'docs/fleet.md example');
    expect(fleet.defaultPool).toBe('gpu');
    expect(fleet.pools.map((p) => p.name)).toEqual(['gpu', 'local', 'lan']);
    const gpu = fleet.pools[0];
    expect(gpu?.latencyHours).toMatchObject({ days: [1, 2, 3, 4, 5], startMinute: 720, endMinute: 1080 });
    expect(gpu?.schedules.map((s) => s.name)).toEqual(['office hours', 'late batch']);
    expect(fleet.pools[1]?.process?.modelsDir).toBe('/var/arrakis/models/gpu{gpu}');
  });
});
