import { describe, expect, it } from 'vitest';
import { parseLoadSamples } from '../../src/fleet/simulator/model-tiers.js';
import { parsePeak } from '../../src/fleet/simulator/peak-window.js';
import { parseTimestamp, parseTrace, TraceError } from '../../src/fleet/simulator/trace-csv.js';
import { scheduleMatches } from '../../src/fleet/schedule.js';

describe('trace CSV', () => {
  it('reads the header by name, quoted fields with commas, users and models', () => {
    const { jobs, skipped } = parseTrace(
      'model,timestamp,user,duration_s\n' +
        '"sd15, pruned.safetensors",2026-01-05T10:00:05Z,"ann ""a"" b",30\n' +
        ',1767607200,,12.5\n',
    );
    expect(skipped).toBe(0);
    expect(jobs).toEqual([
      { at: Date.parse('2026-01-05T10:00:00Z'), durationS: 12.5, user: 'line3', model: null },
      {
        at: Date.parse('2026-01-05T10:00:05Z'),
        durationS: 30,
        user: 'ann "a" b',
        model: 'sd15, pruned.safetensors',
      },
    ]);
  });

  it('takes a timestamp without an offset as UTC, never the host zone, and honours offsets', () => {
    const utc = Date.UTC(2026, 0, 5, 10, 0, 0);
    expect(parseTimestamp('2026-01-05T10:00:00')).toBe(utc);
    expect(parseTimestamp('2026-01-05 10:00:00')).toBe(utc);
    expect(parseTimestamp('2026-01-05T10:00:00Z')).toBe(utc);
    expect(parseTimestamp('2026-01-05T12:00:00+02:00')).toBe(utc);
    expect(parseTimestamp('2026-01-05T05:00:00-0500')).toBe(utc);
    expect(parseTimestamp('2026-01-05T10:00:00.250Z')).toBe(utc + 250);
    expect(parseTimestamp('2026-01-05')).toBe(Date.UTC(2026, 0, 5));
    expect(parseTimestamp('1767607200')).toBe(1767607200_000);
    expect(parseTimestamp('1767607200000')).toBe(1767607200_000);
    expect(parseTimestamp('2026-02-31T10:00:00')).toBeNull();
    expect(parseTimestamp('yesterday')).toBeNull();
  });

  it('is independent of the host time zone (TZ is read per call by Date, not by the parser)', () => {
    const before = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(parseTimestamp('2026-07-01T10:00:00')).toBe(Date.UTC(2026, 6, 1, 10));
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

  it('names the line of a zero or bad row, and skips and counts such rows with skipInvalid', () => {
    const text =
      'timestamp,duration_s,user\n' +
      '2026-01-05T10:00:00Z,30,a\n' +
      '2026-01-05T10:00:01Z,0,b\n' +
      'not-a-time,5,c\n' +
      '2026-01-05T10:00:03Z,abc,d\n' +
      '2026-01-05T10:00:04Z,7,e\n';
    expect(() => parseTrace(text)).toThrow(TraceError);
    expect(() => parseTrace(text)).toThrow(/trace line 3:/);
    const parsed = parseTrace(text, { skipInvalid: true });
    expect(parsed.jobs.map((j) => j.user)).toEqual(['a', 'e']);
    expect(parsed.skipped).toBe(3);
    expect(parsed.skippedLines).toEqual([3, 4, 5]);
  });

  it('counts lines across quoted newlines when naming a bad row', () => {
    const text =
      'timestamp,duration_s,user\n2026-01-05T10:00:00Z,3,"two\nlines"\n2026-01-05T10:00:01Z,-1,x\n';
    expect(() => parseTrace(text)).toThrow(/trace line 4:/);
  });

  it('requires a header naming timestamp and duration_s', () => {
    expect(() => parseTrace('2026-01-05T10:00:00Z,3\n')).toThrow(/header naming timestamp,duration_s/);
    expect(() => parseTrace('timestamp,duration_s\n')).toThrow(/no valid jobs/);
  });
});

describe('load samples and the peak window', () => {
  it('reads load samples under a "seconds" header and draws only those values', () => {
    const s = parseLoadSamples('seconds\n10\n20\n30\n');
    expect(s.median).toBe(20);
    let u = 0;
    const draws = Array.from({ length: 9 }, () => s.sample(() => (u = (u + 0.11) % 1)));
    expect(new Set(draws)).toEqual(new Set([10, 20, 30]));
    expect(() => parseLoadSamples('secs\n1\n')).toThrow(/header naming "seconds"/);
    expect(() => parseLoadSamples('seconds\n1\n-2\n')).toThrow(/line 3/);
  });

  it('parses "Mon-Fri 09:00-18:00" as weekday office hours in UTC, and offsets', () => {
    const p = parsePeak('Mon-Fri 09:00-18:00');
    expect(p.days).toEqual([1, 2, 3, 4, 5]);
    expect(scheduleMatches(p, Date.UTC(2026, 0, 5, 9, 0))).toBe(true); // Monday 09:00
    expect(scheduleMatches(p, Date.UTC(2026, 0, 5, 18, 0))).toBe(false);
    expect(scheduleMatches(p, Date.UTC(2026, 0, 10, 12, 0))).toBe(false); // Saturday
    const cet = parsePeak('Sat,Sun 10-16 +01:00');
    expect(cet.days).toEqual([0, 6]);
    expect(scheduleMatches(cet, Date.UTC(2026, 0, 10, 9, 0))).toBe(true); // 10:00 at +01:00
    expect(() => parsePeak('Mun-Fri 09:00-18:00')).toThrow(/unknown day/);
    expect(() => parsePeak('weekdays nine to five')).toThrow(/expected days and hours/);
    // Minutes past 59 and offsets past ±23:59 are refused, not rolled over (09:75 is not 10:15).
    expect(() => parsePeak('Mon-Fri 09:75-18:00')).toThrow(/minutes must be 00-59/);
    expect(() => parsePeak('daily 12-18:60')).toThrow(/minutes must be 00-59/);
    expect(() => parsePeak('daily 12-18 +99:00')).toThrow(/offset must be between/);
    expect(() => parsePeak('daily 12-18 +05:60')).toThrow(/offset must be between/);
    expect(parsePeak('daily 12-18 -23:59').offsetMinutes).toBe(-1439);
  });
});
