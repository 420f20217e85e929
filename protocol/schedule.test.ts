import { describe, expect, it } from 'vitest';
import { formatWindowStart, inSchedule, nextWindowStart, parseSchedule, type ContributionWindow } from './schedule';

const windows = (text: string): ContributionWindow[] => {
  const parsed = parseSchedule(text);
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed.windows;
};
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('parseSchedule', () => {
  it('reads days, ranges, whole days and nights across midnight', () => {
    expect(windows('weekdays 18:00-08:00, weekends')).toEqual([
      { days: [1, 2, 3, 4, 5], fromMin: 1080, toMin: 480 },
      { days: [6, 0], fromMin: 0, toMin: 1440 },
    ]);
    expect(windows('Fri – Mon 9:30 - 24:00; daily 00:00-06:00')).toEqual([
      { days: [5, 6, 0, 1], fromMin: 570, toMin: 1440 },
      { days: [0, 1, 2, 3, 4, 5, 6], fromMin: 0, toMin: 360 },
    ]);
    expect(windows('Saturday 22:00-00:00')).toEqual([{ days: [6], fromMin: 1320, toMin: 1440 }]);
    expect(windows('  ')).toEqual([]);
  });

  it('says what is wrong in words', () => {
    expect(parseSchedule('Fro 18:00-08:00')).toEqual({ error: '"Fro 18:00-08:00": unknown day "Fro": use Mon…Sun, a range like Mon-Fri, weekdays, weekends or daily' });
    expect(parseSchedule('weekdays 18:00-8')).toEqual({ error: '"weekdays 18:00-8": "8" is not a time of day: write HH:MM on a 24-hour clock, like 08:00 or 18:30' });
    expect(parseSchedule('Mon 25:00-08:00')).toMatchObject({ error: expect.stringContaining('"25:00" is not a time of day') });
    expect(parseSchedule('Mon 18:00')).toEqual({ error: '"Mon 18:00": the hours are a range, like 18:00-08:00' });
    expect(parseSchedule('Mon 08:00-08:00')).toEqual({ error: '"Mon 08:00-08:00": the window starts and ends at 08:00; for whole days leave the hours out' });
    expect(parseSchedule('Mon 18:00-20:00 and Tue')).toMatchObject({ error: expect.stringContaining('write days then one time range') });
  });
});

describe('the schedule in local time', () => {
  const office = windows('weekdays 18:00-08:00, weekends');
  const zone = 'Europe/Berlin';

  it('crosses midnight: a weekday evening runs into the next morning, Friday night into Saturday', () => {
    // 2026-11-23 is a Monday; Berlin is UTC+1 in winter.
    expect(inSchedule(office, at('2026-11-23T16:59:00Z'), zone)).toBe(false); // Mon 17:59
    expect(inSchedule(office, at('2026-11-23T17:00:00Z'), zone)).toBe(true); // Mon 18:00
    expect(inSchedule(office, at('2026-11-23T23:30:00Z'), zone)).toBe(true); // Tue 00:30
    expect(inSchedule(office, at('2026-11-24T06:59:00Z'), zone)).toBe(true); // Tue 07:59
    expect(inSchedule(office, at('2026-11-24T07:00:00Z'), zone)).toBe(false); // Tue 08:00
    expect(iso(nextWindowStart(office, at('2026-11-24T07:00:00Z'), zone))).toBe('2026-11-24T17:00:00.000Z');
    expect(inSchedule(office, at('2026-11-28T06:00:00Z'), zone)).toBe(true); // Sat 07:00: Friday's night and the weekend
  });

  it('wraps the week: Sunday runs to midnight, Monday morning is outside, a Sunday night reaches into Monday', () => {
    expect(inSchedule(office, at('2026-11-29T22:59:00Z'), zone)).toBe(true); // Sun 23:59
    expect(inSchedule(office, at('2026-11-29T23:00:00Z'), zone)).toBe(false); // Mon 00:00
    expect(iso(nextWindowStart(office, at('2026-11-29T23:00:00Z'), zone))).toBe('2026-11-30T17:00:00.000Z');
    const sundayNight = windows('Sun 22:00-02:00');
    expect(inSchedule(sundayNight, at('2026-11-30T00:30:00Z'), zone)).toBe(true); // Mon 01:30
    expect(inSchedule(sundayNight, at('2026-11-30T01:00:00Z'), zone)).toBe(false); // Mon 02:00
    // From Monday 02:00 the next window is six days and 20 hours away.
    expect(iso(nextWindowStart(sundayNight, at('2026-11-30T01:00:00Z'), zone))).toBe('2026-12-06T21:00:00.000Z');
  });

  it('keeps wall-clock hours across DST changes, and a start in the skipped hour begins when the clocks reach it', () => {
    // 2026-03-29 (Sunday): Berlin skips 02:00-03:00 (UTC+1 → UTC+2).
    const nights = windows('daily 18:00-08:00');
    expect(inSchedule(nights, at('2026-03-29T05:59:00Z'), zone)).toBe(true); // 07:59 CEST
    expect(inSchedule(nights, at('2026-03-29T06:00:00Z'), zone)).toBe(false); // 08:00 CEST: an hour earlier in UTC
    expect(iso(nextWindowStart(nights, at('2026-03-29T06:00:00Z'), zone))).toBe('2026-03-29T16:00:00.000Z');
    const skipped = windows('Sun 02:30-04:00');
    expect(iso(nextWindowStart(skipped, at('2026-03-28T12:00:00Z'), zone))).toBe('2026-03-29T01:00:00.000Z'); // 03:00 CEST
    // 2026-10-25: 03:00 CEST → 02:00 CET; the night ends at 08:00 CET.
    expect(inSchedule(nights, at('2026-10-25T06:59:00Z'), zone)).toBe(true);
    expect(inSchedule(nights, at('2026-10-25T07:00:00Z'), zone)).toBe(false);
    // The same instants in New York, whose clocks change on other dates, read differently: the zone is explicit.
    expect(inSchedule(nights, at('2026-03-29T06:00:00Z'), 'America/New_York')).toBe(true); // 02:00 EDT
  });

  it('an empty schedule is any time; the next start reads "18:00" today and "Sat 00:00" later', () => {
    expect(inSchedule([], at('2026-11-24T10:00:00Z'), zone)).toBe(true);
    expect(nextWindowStart([], at('2026-11-24T10:00:00Z'), zone)).toBeNull();
    expect(formatWindowStart(at('2026-11-24T17:00:00Z'), at('2026-11-24T10:00:00Z'), zone)).toBe('18:00');
    expect(formatWindowStart(at('2026-11-27T23:00:00Z'), at('2026-11-24T10:00:00Z'), zone)).toBe('Sat 00:00');
  });
});
