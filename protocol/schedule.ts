// When a PC may contribute: a weekly schedule the owner types in Settings ("weekdays 18:00-08:00, weekends"),
// read in an explicit IANA time zone. Times are local wall-clock times, so a window keeps its hours across a DST
// change (a night from 18:00 to 08:00 is an hour shorter or longer that night), and a start that falls in the hour
// a spring-forward skips begins when the clocks reach the window.

/** One weekly window: it starts at `fromMin` (minutes after local midnight) on each day in `days` (0 = Sunday)
 * and ends at `toMin` the same day, or the next day when `toMin <= fromMin` (it crosses midnight). */
export interface ContributionWindow {
  days: number[];
  fromMin: number;
  toMin: number;
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY_SETS: Record<string, number[]> = { daily: [0, 1, 2, 3, 4, 5, 6], weekdays: [1, 2, 3, 4, 5], weekends: [6, 0] };
const DAYS_HELP = 'use Mon…Sun, a range like Mon-Fri, weekdays, weekends or daily';

export const SCHEDULE_EXAMPLE = 'weekdays 18:00-08:00, weekends';

function dayIndex(word: string): number | undefined {
  const index = DAY_NAMES.indexOf(word.slice(0, 3).toLowerCase() as (typeof DAY_NAMES)[number]);
  const full = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'][index];
  return index >= 0 && (word.length === 3 || full === word.toLowerCase()) ? index : undefined;
}

function parseDays(text: string): number[] | string {
  const set = DAY_SETS[text.toLowerCase()];
  if (set) return set;
  const [first, last, ...rest] = text.split('-');
  const from = dayIndex(first!);
  if (from === undefined) return `unknown day "${first}": ${DAYS_HELP}`;
  if (last === undefined) return [from];
  const to = dayIndex(last);
  if (to === undefined || rest.length > 0) return `unknown day "${text.slice(first!.length + 1)}": ${DAYS_HELP}`;
  const days = [from];
  for (let d = from; d !== to; ) days.push((d = (d + 1) % 7));
  return days;
}

function parseTime(text: string, allow24: boolean): number | string {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text);
  const minutes = match ? Number(match[1]) * 60 + Number(match[2]) : NaN;
  if (!match || Number(match[2]) > 59 || minutes > (allow24 ? 1440 : 1439)) {
    return `"${text}" is not a time of day: write HH:MM on a 24-hour clock, like 08:00 or 18:30`;
  }
  return minutes;
}

/**
 * Reads a schedule: entries separated by commas, each days and optionally a time range, e.g.
 * "weekdays 18:00-08:00, weekends" or "Mon-Thu 19:00-07:00, Fri 17:00-24:00, Sat-Sun". Empty: any time.
 */
export function parseSchedule(text: string): { windows: ContributionWindow[] } | { error: string } {
  const windows: ContributionWindow[] = [];
  for (const raw of text.split(/[,;\n]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const [daysText, timesText, ...extra] = entry.replace(/\s*[-–—]\s*/g, '-').split(/\s+/);
    if (extra.length > 0) return { error: `"${entry}": write days then one time range, like "${SCHEDULE_EXAMPLE.split(',')[0]}"` };
    const days = parseDays(daysText!);
    if (typeof days === 'string') return { error: `"${entry}": ${days}` };
    if (timesText === undefined) {
      windows.push({ days, fromMin: 0, toMin: 1440 });
      continue;
    }
    const [fromText, toText, ...more] = timesText.split('-');
    if (toText === undefined || more.length > 0) return { error: `"${entry}": the hours are a range, like 18:00-08:00` };
    const fromMin = parseTime(fromText!, false);
    if (typeof fromMin === 'string') return { error: `"${entry}": ${fromMin}` };
    const toMin = parseTime(toText, true);
    if (typeof toMin === 'string') return { error: `"${entry}": ${toMin}` };
    if (fromMin === toMin) return { error: `"${entry}": the window starts and ends at ${fromText}; for whole days leave the hours out` };
    windows.push({ days, fromMin, toMin: toMin === 0 ? 1440 : toMin });
  }
  return { windows };
}

interface LocalTime {
  /** Local calendar date as a UTC epoch at midnight (for day arithmetic). */
  dateUtc: number;
  weekday: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall-clock time in `timeZone` at `epochMs`, as if it were UTC (ms). */
function wallClock(epochMs: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(epochMs)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

function localTime(epochMs: number, timeZone: string): LocalTime {
  const wall = wallClock(epochMs, timeZone);
  const dateUtc = Math.floor(wall / 86_400_000) * 86_400_000;
  return { dateUtc, weekday: new Date(dateUtc).getUTCDay(), minute: Math.floor((wall - dateUtc) / 60_000) };
}

/** The instant a local wall-clock time (as if UTC) happens in `timeZone`; in an hour a spring-forward skips, the
 * end of the skip (when the clocks first reach or pass it). */
function instantOf(wall: number, timeZone: string): number {
  const early = wall - (wallClock(wall, timeZone) - wall);
  const late = wall - (wallClock(early, timeZone) - early);
  if (wallClock(late, timeZone) === wall) return late;
  // In the skipped hour: the clocks jump past `wall` somewhere between the two guesses; find the minute they do.
  let [low, high] = early < late ? [early, late] : [late, early];
  while (high - low > 60_000) {
    const mid = low + Math.floor((high - low) / 120_000) * 60_000;
    if (wallClock(mid, timeZone) >= wall) high = mid;
    else low = mid;
  }
  return high;
}

/** Whether the schedule lets the PC contribute at `epochMs`; an empty schedule always does. */
export function inSchedule(windows: readonly ContributionWindow[], epochMs: number, timeZone: string): boolean {
  if (windows.length === 0) return true;
  const { weekday, minute } = localTime(epochMs, timeZone);
  const yesterday = (weekday + 6) % 7;
  return windows.some((w) =>
    w.toMin > w.fromMin
      ? w.days.includes(weekday) && minute >= w.fromMin && minute < w.toMin
      : (w.days.includes(weekday) && minute >= w.fromMin) || (w.days.includes(yesterday) && minute < w.toMin),
  );
}

/** When the next window opens after `epochMs` (call it outside the schedule); null for an empty schedule. */
export function nextWindowStart(windows: readonly ContributionWindow[], epochMs: number, timeZone: string): number | null {
  const today = localTime(epochMs, timeZone);
  let next: number | null = null;
  for (let offset = 0; offset <= 7; offset++) {
    const weekday = (today.weekday + offset) % 7;
    for (const w of windows) {
      if (!w.days.includes(weekday)) continue;
      const start = instantOf(today.dateUtc + offset * 86_400_000 + w.fromMin * 60_000, timeZone);
      if (start > epochMs && (next === null || start < next) && inSchedule(windows, start, timeZone)) next = start;
    }
    if (next !== null) return next;
  }
  return next;
}

/** "18:00" if it is later today where the PC is, else "Sat 00:00". */
export function formatWindowStart(startMs: number, nowMs: number, timeZone: string): string {
  const start = localTime(startMs, timeZone);
  const hhmm = `${String(Math.floor(start.minute / 60)).padStart(2, '0')}:${String(start.minute % 60).padStart(2, '0')}`;
  if (start.dateUtc === localTime(nowMs, timeZone).dateUtc) return hhmm;
  const day = DAY_NAMES[start.weekday]!;
  return `${day.charAt(0).toUpperCase()}${day.slice(1)} ${hhmm}`;
}
