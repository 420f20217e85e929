// When this PC lends its CPU to the pool: a pure function of what the PC looks like this second, the user's settings
// and the little state it keeps (which phase it is in, since when). Defaults follow the desktop schedulers:
// HTCondor's desktop policy (start after the keyboard has been idle a while and the load from others is low, suspend on
// input, continue after a minute of idle, vacate after 10 minutes suspended) and BOINC's "only on AC power".
import type { ContributionAction, Settings } from '../protocol/ipc';
import { formatWindowStart, inSchedule, nextWindowStart, parseSchedule, type ContributionWindow } from '../protocol/schedule';

export interface PolicyInput {
  /** Seconds since the last keyboard or mouse input (powerMonitor.getSystemIdleTime()). */
  idleSec: number;
  onBattery: boolean;
  screenLocked: boolean;
  /** CPU used by programs other than our jobs, 0-100 % of the whole machine. */
  othersCpuPercent: number;
  /** Epoch milliseconds. */
  now: number;
}

export interface PolicySettings {
  contributeWhenIdle: boolean;
  alwaysContribute: boolean;
  idleMinutes: number;
  onlyOnAC: boolean;
  maxOthersCpuPercent: number;
  /** Epoch milliseconds; null = not paused. */
  pausedUntil: number | null;
  /** A suspended job continues after the PC has been idle this long again. */
  resumeAfterIdleSec: number;
  /** A job suspended this long is handed back to the pool. */
  vacateAfterSuspendedSec: number;
  /** When the PC may contribute at all (empty: any time), read in `timeZone`. */
  schedule: ContributionWindow[];
  /** IANA zone the schedule's hours are in: the PC's own, passed in so tests (and DST) are explicit. */
  timeZone: string;
}

export const POLICY_TIMINGS = { resumeAfterIdleSec: 60, vacateAfterSuspendedSec: 10 * 60 } as const;

/** waiting: holds no pool work and takes none; running: takes and runs work; suspended: work frozen, owner is back. */
export type PolicyPhase = 'waiting' | 'running' | 'suspended';

export interface PolicyMemory {
  phase: PolicyPhase;
  /** Epoch milliseconds when the phase began. */
  since: number;
}

export interface ContributionDecision {
  /**
   * run: take and run pool work. suspend: freeze running work (keep the leases), take none.
   * vacate: hold no pool work (hand back what runs) and take none, because of the owner's use of the PC.
   * stop: the same for the agent, because contribution is switched off or paused.
   */
  action: ContributionAction;
  /** In words for the tray and the window. */
  reason: string;
  memory: PolicyMemory;
}

export const initialPolicyMemory = (now: number): PolicyMemory => ({ phase: 'waiting', since: now });

/** The zone this PC's clock shows. */
export const systemTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

export function policySettingsFrom(settings: Settings, timeZone: string = systemTimeZone()): PolicySettings {
  const schedule = parseSchedule(settings.contributeHours);
  return {
    contributeWhenIdle: settings.contributeWhenIdle,
    alwaysContribute: settings.alwaysContribute,
    idleMinutes: settings.idleMinutes,
    onlyOnAC: settings.onlyOnAC,
    maxOthersCpuPercent: settings.maxOthersCpuPercent,
    pausedUntil: settings.pausedUntil === null ? null : Date.parse(settings.pausedUntil),
    ...POLICY_TIMINGS,
    // The settings schema refuses a schedule that does not parse.
    schedule: 'windows' in schedule ? schedule.windows : [],
    timeZone,
  };
}

const minutes = (sec: number): string => (sec < 60 ? `${Math.floor(sec)} s` : `${Math.floor(sec / 60)} min`);
const clock = (epochMs: number): string => new Date(epochMs).toTimeString().slice(0, 5);

export function decideContribution(
  input: PolicyInput,
  settings: PolicySettings,
  memory: PolicyMemory,
): ContributionDecision {
  const { now } = input;
  const enter = (phase: PolicyPhase): PolicyMemory => (memory.phase === phase ? memory : { phase, since: now });

  if (settings.pausedUntil !== null && now < settings.pausedUntil) {
    return { action: 'stop', reason: `paused until ${clock(settings.pausedUntil)}`, memory: enter('waiting') };
  }
  if (!settings.contributeWhenIdle && !settings.alwaysContribute) {
    return { action: 'stop', reason: 'contributing is switched off', memory: enter('waiting') };
  }
  if (!inSchedule(settings.schedule, now, settings.timeZone)) {
    // Outside a schedule, it has windows: a next one always opens within the week.
    const next = nextWindowStart(settings.schedule, now, settings.timeZone)!;
    const reason = `contributes from ${formatWindowStart(next, now, settings.timeZone)} (outside the hours set in Settings)`;
    return { action: 'stop', reason, memory: enter('waiting') };
  }

  const idleSec = Number.isFinite(input.idleSec) ? Math.max(0, input.idleSec) : 0;
  // A locked screen means the owner stepped away on purpose: as good as idle, whatever the idle counter says.
  const idleFor = (thresholdSec: number) => settings.alwaysContribute || input.screenLocked || idleSec >= thresholdSec;
  const blocker =
    settings.onlyOnAC && input.onBattery
      ? 'on battery power'
      : !settings.alwaysContribute && input.othersCpuPercent >= settings.maxOthersCpuPercent
        ? `other programs use ${Math.round(input.othersCpuPercent)}% CPU`
        : null;
  const startThresholdSec = settings.idleMinutes * 60;

  switch (memory.phase) {
    case 'waiting': {
      if (blocker === null && idleFor(startThresholdSec)) {
        return { action: 'run', reason: runReason(settings, input), memory: enter('running') };
      }
      const why = blocker ?? `waiting for ${minutes(startThresholdSec)} without input (idle ${minutes(idleSec)})`;
      return { action: 'vacate', reason: why, memory };
    }
    case 'running': {
      if (blocker === null && idleFor(settings.resumeAfterIdleSec)) {
        return { action: 'run', reason: runReason(settings, input), memory };
      }
      return { action: 'suspend', reason: suspendReason(blocker), memory: enter('suspended') };
    }
    case 'suspended': {
      if (blocker === null && idleFor(settings.resumeAfterIdleSec)) {
        return { action: 'run', reason: runReason(settings, input), memory: enter('running') };
      }
      if (Math.max(0, now - memory.since) >= settings.vacateAfterSuspendedSec * 1000) {
        return {
          action: 'vacate',
          reason: `handed the work back after ${minutes(settings.vacateAfterSuspendedSec)} suspended (${blocker ?? 'you are using this PC'})`,
          memory: enter('waiting'),
        };
      }
      return { action: 'suspend', reason: suspendReason(blocker), memory };
    }
  }
}

function runReason(settings: PolicySettings, input: PolicyInput): string {
  if (settings.alwaysContribute) return 'contributing (always contribute is on)';
  return input.screenLocked ? 'contributing while the screen is locked' : 'contributing while this PC is idle';
}

const suspendReason = (blocker: string | null): string => `suspended: ${blocker ?? 'you are using this PC'}`;
