import { describe, expect, it } from 'vitest';
import {
  POLICY_TIMINGS,
  decideContribution,
  initialPolicyMemory,
  policySettingsFrom,
  type PolicyInput,
  type PolicySettings,
} from './idle-policy';
import { settingsSchema } from '../protocol/ipc';
import type { ContributionAction } from '../protocol/ipc';

const T0 = Date.parse('2025-03-03T09:00:00Z');
const defaults: PolicySettings = { ...policySettingsFrom(settingsSchema.parse({})), contributeWhenIdle: true };

/** One sample per second, as main/index.ts feeds the policy. */
type Sample = Partial<Omit<PolicyInput, 'now'>>;

/** The owner keeps typing: the idle counter stays at 0 for `seconds` samples. */
const busy = (seconds: number): Sample[] => Array.from({ length: seconds }, () => ({ idleSec: 0 }));
/** The owner walks away: the idle counter climbs from `from`, one sample per second. */
const away = (seconds: number, from = 0): Sample[] => Array.from({ length: seconds }, (_, i) => ({ idleSec: from + i }));
const withAll = (samples: Sample[], extra: Sample): Sample[] => samples.map((s) => ({ ...s, ...extra }));

/** Feeds the samples through the policy; returns the action and reason of every second. */
function replay(samples: Sample[], settings: PolicySettings = defaults, start = T0) {
  let memory = initialPolicyMemory(start);
  return samples.map((sample, second) => {
    const input: PolicyInput = {
      idleSec: 0,
      onBattery: false,
      screenLocked: false,
      othersCpuPercent: 0,
      ...sample,
      now: start + second * 1000,
    };
    const decision = decideContribution(input, settings, memory);
    memory = decision.memory;
    return { second, action: decision.action, reason: decision.reason };
  });
}

/** Seconds at which the action changed, with the new action: the trace's story in short. */
const changes = (trace: { second: number; action: ContributionAction }[]) =>
  trace.filter((t, i) => i === 0 || trace[i - 1]!.action !== t.action).map((t) => [t.second, t.action]);

describe('decideContribution', () => {
  it('starts after 5 minutes without input, not a second earlier', () => {
    const trace = replay(away(302));
    expect(changes(trace)).toEqual([
      [0, 'vacate'],
      [300, 'run'],
    ]);
    expect(trace[299]!.reason).toBe('waiting for 5 min without input (idle 4 min)');
    expect(trace[300]!.reason).toBe('contributing while this PC is idle');
  });

  it('uses the configured idle minutes (HTCondor-like 15)', () => {
    const trace = replay(away(15 * 60 + 1), { ...defaults, idleMinutes: 15 });
    expect(changes(trace)).toEqual([
      [0, 'vacate'],
      [900, 'run'],
    ]);
  });

  it('suspends on the first sample after input, resumes after a minute idle again', () => {
    const trace = replay([...away(310), ...busy(1), ...away(61)]);
    expect(changes(trace)).toEqual([
      [0, 'vacate'],
      [300, 'run'],
      [310, 'suspend'],
      [371, 'run'],
    ]);
    expect(trace[310]!.reason).toBe('suspended: you are using this PC');
  });

  it('keeps suspending while the owner comes and goes within the minute', () => {
    const trace = replay([...away(301), ...busy(1), ...away(59), ...busy(1), ...away(59)]);
    expect(changes(trace)).toEqual([
      [0, 'vacate'],
      [300, 'run'],
      [301, 'suspend'],
    ]);
  });

  it('vacates after 10 minutes suspended, then waits the full idle time before running again', () => {
    const trace = replay([...away(301), ...busy(600), ...away(301)]);
    expect(changes(trace)).toEqual([
      [0, 'vacate'],
      [300, 'run'],
      [301, 'suspend'],
      [901, 'vacate'],
      [1201, 'run'],
    ]);
    expect(trace[901]!.reason).toBe('handed the work back after 10 min suspended (you are using this PC)');
    // one minute of idle resumes suspended work, but does not restart after a vacate
    expect(trace[901 + POLICY_TIMINGS.resumeAfterIdleSec]!.action).toBe('vacate');
  });

  it('runs only on AC power by default: battery suspends running work and blocks a start', () => {
    const onBattery = replay([...away(301), ...withAll(away(5, 301), { onBattery: true })]);
    expect(changes(onBattery)).toEqual([
      [0, 'vacate'],
      [300, 'run'],
      [301, 'suspend'],
    ]);
    expect(onBattery[301]!.reason).toBe('suspended: on battery power');
    expect(replay(withAll(away(400), { onBattery: true })).every((t) => t.action === 'vacate')).toBe(true);
    expect(replay(withAll(away(301), { onBattery: true }), { ...defaults, onlyOnAC: false })[300]!.action).toBe('run');
  });

  it('waits while other programs use 25% CPU or more, and suspends when they start to', () => {
    expect(replay(withAll(away(400), { othersCpuPercent: 25 })).every((t) => t.action === 'vacate')).toBe(true);
    expect(replay(withAll(away(301), { othersCpuPercent: 24 }))[300]!.action).toBe('run');
    const trace = replay([...away(301), ...withAll(away(3, 301), { othersCpuPercent: 80 })]);
    expect(trace[301]!).toMatchObject({ action: 'suspend', reason: 'suspended: other programs use 80% CPU' });
  });

  it('treats a locked screen as idle: starts at once and suspends when the owner unlocks and types', () => {
    const trace = replay([...withAll(busy(5), { screenLocked: true }), ...busy(1)]);
    expect(changes(trace)).toEqual([
      [0, 'run'],
      [5, 'suspend'],
    ]);
    expect(trace[0]!.reason).toBe('contributing while the screen is locked');
  });

  it('always-contribute ignores input and load, but still respects AC-only', () => {
    const always = { ...defaults, contributeWhenIdle: false, alwaysContribute: true };
    expect(replay(withAll(busy(30), { othersCpuPercent: 90 }), always).every((t) => t.action === 'run')).toBe(true);
    expect(replay(withAll(busy(3), { onBattery: true }), always)[0]!.action).toBe('vacate');
  });

  it('stops while switched off, whatever the PC does', () => {
    const trace = replay(away(1000), { ...defaults, contributeWhenIdle: false });
    expect(trace.every((t) => t.action === 'stop' && t.reason === 'contributing is switched off')).toBe(true);
  });

  it('"pause for 1 hour" stops running work at once and the normal policy resumes after the hour', () => {
    const pausedUntil = T0 + 400_000 + 3_600_000;
    let memory = initialPolicyMemory(T0);
    const at = (second: number, idleSec: number, settings: PolicySettings) => {
      const decision = decideContribution(
        { idleSec, onBattery: false, screenLocked: false, othersCpuPercent: 0, now: T0 + second * 1000 },
        settings,
        memory,
      );
      memory = decision.memory;
      return decision;
    };
    expect(at(300, 300, defaults).action).toBe('run');
    const paused = at(400, 400, { ...defaults, pausedUntil });
    expect(paused.action).toBe('stop');
    expect(paused.reason).toMatch(/^paused until \d\d:\d\d$/);
    expect(at(3000, 3000, { ...defaults, pausedUntil }).action).toBe('stop');
    // the hour is over and the PC has been idle long enough: back to work
    expect(at(4001, 4001, { ...defaults, pausedUntil }).action).toBe('run');
  });

  it('reads pausedUntil and the switches from the settings file', () => {
    const settings = settingsSchema.parse({ contributeWhenIdle: true, pausedUntil: '2025-03-03T10:00:00.000Z' });
    expect(policySettingsFrom(settings)).toMatchObject({
      contributeWhenIdle: true,
      idleMinutes: 5,
      onlyOnAC: true,
      maxOthersCpuPercent: 25,
      pausedUntil: Date.parse('2025-03-03T10:00:00.000Z'),
      resumeAfterIdleSec: 60,
      vacateAfterSuspendedSec: 600,
    });
  });

  it('treats a broken idle reading as input, never as idle', () => {
    expect(replay([...away(301), { idleSec: Number.NaN }])[301]!.action).toBe('suspend');
  });

  describe('contribution hours (a weekly schedule in local time)', () => {
    const officeHours = (timeZone: string): PolicySettings =>
      policySettingsFrom(settingsSchema.parse({ contributeWhenIdle: true, contributeHours: 'weekdays 18:00-08:00, weekends' }), timeZone);

    it('waits for the evening window though the PC is idle, then starts at 18:00 local time; says when it opens', () => {
      // Monday 2026-11-23 17:59:00 in Berlin (UTC+1); the owner left long ago.
      const trace = replay(away(120, 3600), officeHours('Europe/Berlin'), Date.parse('2026-11-23T16:59:00Z'));
      expect(changes(trace)).toEqual([
        [0, 'stop'],
        [60, 'run'],
      ]);
      expect(trace[0]!.reason).toBe('contributes from 18:00 (outside the hours set in Settings)');
      // The same instants in Tokyo are Tuesday 01:59 and 02:00: inside Monday's night all along.
      expect(changes(replay(away(120, 3600), officeHours('Asia/Tokyo'), Date.parse('2026-11-23T16:59:00Z')))).toEqual([[0, 'run']]);
    });

    it('hands the work back when the window closes at 08:00, across midnight, and names Monday evening on a Monday morning', () => {
      // Tuesday 07:59:30 Berlin: running since the night.
      const trace = replay(away(60, 3600), officeHours('Europe/Berlin'), Date.parse('2026-11-24T06:59:30Z'));
      expect(changes(trace)).toEqual([
        [0, 'run'],
        [30, 'stop'],
      ]);
      // Sunday 23:59:30 → Monday 00:00: the weekend ends, the week wraps, and Monday's window is the evening.
      const wrap = replay(away(60, 3600), officeHours('Europe/Berlin'), Date.parse('2026-11-29T22:59:30Z'));
      expect(changes(wrap)).toEqual([
        [0, 'run'],
        [30, 'stop'],
      ]);
      expect(wrap[30]!.reason).toBe('contributes from 18:00 (outside the hours set in Settings)');
      // After the spring DST change the window still closes at 08:00 on the wall clock: 2026-03-31 08:00 CEST is 06:00 UTC.
      expect(changes(replay(away(2, 3600), officeHours('Europe/Berlin'), Date.parse('2026-03-31T05:59:59Z')))).toEqual([
        [0, 'run'],
        [1, 'stop'],
      ]);
    });

    it('a schedule that does not parse is refused with the reason, and the old settings stay', () => {
      const refused = settingsSchema.safeParse({ contributeHours: 'weekdays 18-08' });
      expect(refused.success).toBe(false);
      expect(refused.error!.issues[0]!.message).toBe('"weekdays 18-08": "18" is not a time of day: write HH:MM on a 24-hour clock, like 08:00 or 18:30');
    });
  });
});
