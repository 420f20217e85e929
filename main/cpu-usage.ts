// "CPU use by other programs" for the idle policy: the machine's busy share from os.cpus() deltas, minus what this
// app's own process tree (the main process, its helpers and the jobs the agent runs) used in the same interval.
//
// The approximation, documented:
// - Linux: the app's tree is read from /proc (utime+stime+cutime+cstime of the app and every descendant, in clock
//   ticks of 10 ms: USER_HZ is 100 on every mainstream kernel). A job that double-forks away from the tree counts as
//   "others" — it is still held back by the policy, just attributed to the wrong side.
// - Windows and macOS have no cheap per-process reading without native code, so the jobs' share is estimated as one
//   core per running job (a job runs at the lowest priority and rarely gets more while others need the CPU), plus the
//   main process's own process.cpuUsage(). A multi-threaded job may then look like load from others and suspend
//   itself until the PC is quiet again: a cautious error, never one that takes CPU from the owner.
// The result is averaged over a short window so a single busy second (an antivirus scan tick) does not flip the policy.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface CpuTimes {
  /** Milliseconds summed over all cores. */
  idleMs: number;
  totalMs: number;
}

export function machineCpuTimes(cpus: os.CpuInfo[] = os.cpus()): CpuTimes {
  let idleMs = 0;
  let totalMs = 0;
  for (const { times } of cpus) {
    idleMs += times.idle;
    totalMs += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idleMs, totalMs };
}

/** Share of the whole machine (0-100) used by others between two readings, given the CPU ms our tree used meanwhile. */
export function othersCpuPercent(previous: CpuTimes, current: CpuTimes, ownCpuMs: number): number {
  const totalMs = current.totalMs - previous.totalMs;
  if (totalMs <= 0) return 0;
  const busyMs = totalMs - (current.idleMs - previous.idleMs);
  const othersMs = Math.max(0, busyMs - Math.max(0, ownCpuMs));
  return Math.min(100, (othersMs / totalMs) * 100);
}

const TICK_MS = 10;

/** Cumulative CPU ms of `rootPid` and all its descendants, from /proc; null where /proc is not there. */
export function linuxTreeCpuMs(rootPid: number = process.pid, procDir = '/proc'): number | null {
  let entries: string[];
  try {
    entries = readdirSync(procDir).filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const name of entries) {
    let stat: string;
    try {
      stat = readFileSync(`${procDir}/${name}/stat`, 'utf8');
    } catch {
      continue; // the process ended between readdir and read
    }
    // The command name (field 2) may contain spaces and parentheses: parse after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    const ppid = Number(fields[1]);
    ticks.set(pid, Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
    const siblings = children.get(ppid);
    if (siblings) siblings.push(pid);
    else children.set(ppid, [pid]);
  }
  if (!ticks.has(rootPid)) return null;
  let total = 0;
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total += ticks.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total * TICK_MS;
}

export interface CpuSamplerOptions {
  readMachine?: () => CpuTimes;
  /** Cumulative CPU ms of this app's whole process tree, or null where it cannot be measured. */
  readOwnTreeMs?: () => number | null;
  /** How many jobs run right now (not suspended): the estimate where the tree cannot be measured. */
  runningJobs: () => number;
  /** Cumulative CPU ms of the main process alone (the estimate's other part). */
  readMainProcessMs?: () => number;
  now?: () => number;
  /** Samples averaged (one per second in the app). */
  window?: number;
}

export class CpuSampler {
  private previous: { machine: CpuTimes; ownMs: number | null; mainMs: number; at: number } | null = null;
  private readonly recent: number[] = [];
  private readonly readMachine: () => CpuTimes;
  private readonly readOwnTreeMs: () => number | null;
  private readonly readMainProcessMs: () => number;
  private readonly now: () => number;
  private readonly window: number;

  constructor(private readonly options: CpuSamplerOptions) {
    this.readMachine = options.readMachine ?? (() => machineCpuTimes());
    this.readOwnTreeMs = options.readOwnTreeMs ?? (() => (process.platform === 'linux' ? linuxTreeCpuMs() : null));
    this.readMainProcessMs = options.readMainProcessMs ?? (() => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1000;
    });
    this.now = options.now ?? Date.now;
    this.window = options.window ?? 5;
  }

  /** Takes a reading and returns others' CPU share (0-100) averaged over the window; 0 on the first call. */
  sample(): number {
    const current = { machine: this.readMachine(), ownMs: this.readOwnTreeMs(), mainMs: this.readMainProcessMs(), at: this.now() };
    const previous = this.previous;
    this.previous = current;
    if (!previous) return 0;
    let ownMs: number;
    if (current.ownMs !== null && previous.ownMs !== null) {
      ownMs = current.ownMs - previous.ownMs;
    } else {
      const cores = Math.max(1, Math.round((current.machine.totalMs - previous.machine.totalMs) / Math.max(1, current.at - previous.at)));
      const jobsMs = Math.min(cores, this.options.runningJobs()) * Math.max(0, current.at - previous.at);
      ownMs = jobsMs + (current.mainMs - previous.mainMs);
    }
    this.recent.push(othersCpuPercent(previous.machine, current.machine, ownMs));
    if (this.recent.length > this.window) this.recent.shift();
    return this.recent.reduce((sum, value) => sum + value, 0) / this.recent.length;
  }
}
