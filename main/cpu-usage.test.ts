import { spawn } from 'node:child_process';
import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../test/wait';
import { CpuSampler, linuxTreeCpuMs, machineCpuTimes, othersCpuPercent, type CpuTimes } from './cpu-usage';

const cpu = (user: number, idle: number): os.CpuInfo => ({
  model: 'x',
  speed: 1,
  times: { user, nice: 0, sys: 0, idle, irq: 0 },
});

describe('othersCpuPercent', () => {
  it('is the busy share minus our own use', () => {
    const before: CpuTimes = { idleMs: 1000, totalMs: 2000 };
    // 2 cores for 1 s: 2000 ms in total, 500 idle -> 1500 busy; we used 1000 -> others 500 of 2000
    const after: CpuTimes = { idleMs: 1500, totalMs: 4000 };
    expect(othersCpuPercent(before, after, 1000)).toBe(25);
    expect(othersCpuPercent(before, after, 0)).toBe(75);
    // our reading can exceed the machine's (different clocks): never below zero
    expect(othersCpuPercent(before, after, 5000)).toBe(0);
    expect(othersCpuPercent(after, after, 0)).toBe(0);
  });

  it('sums every core from os.cpus()', () => {
    expect(machineCpuTimes([cpu(10, 90), cpu(30, 70)])).toEqual({ idleMs: 160, totalMs: 200 });
  });
});

describe('CpuSampler', () => {
  /** A scripted machine: each step advances 1 s on 4 cores with the given busy ms and our tree's ms. */
  function scripted(steps: { busyMs: number; ownMs: number | null }[], runningJobs = 0) {
    let machine: CpuTimes = { idleMs: 0, totalMs: 0 };
    let own = 0;
    let now = 0;
    let step = -1;
    const sampler = new CpuSampler({
      readMachine: () => machine,
      readOwnTreeMs: () => (step >= 0 && steps[step]!.ownMs === null ? null : own),
      readMainProcessMs: () => 0,
      runningJobs: () => runningJobs,
      now: () => now,
      window: 3,
    });
    const results = [sampler.sample()];
    for (step = 0; step < steps.length; step++) {
      const { busyMs, ownMs } = steps[step]!;
      machine = { idleMs: machine.idleMs + 4000 - busyMs, totalMs: machine.totalMs + 4000 };
      own += ownMs ?? 0;
      now += 1000;
      results.push(sampler.sample());
    }
    return results;
  }

  it('excludes our own jobs and averages over the window', () => {
    // our job keeps one core busy (1000 ms of 4000); others add 0, 0, then 2000 ms in the third second
    const results = scripted([
      { busyMs: 1000, ownMs: 1000 },
      { busyMs: 1000, ownMs: 1000 },
      { busyMs: 3000, ownMs: 1000 },
    ]);
    expect(results).toEqual([0, 0, 0, 50 / 3]);
  });

  it('estimates one core per running job where the process tree cannot be read', () => {
    const results = scripted([{ busyMs: 2000, ownMs: null }], 1);
    // 2000 busy, 1000 estimated for the job -> others 1000 of 4000
    expect(results[1]).toBe(25);
  });
});

describe.runIf(process.platform === 'linux')('linuxTreeCpuMs (reads Linux /proc; skipped on other platforms)', () => {
  it('counts the CPU time of a busy child process as ours', async () => {
    const before = linuxTreeCpuMs();
    expect(before).toBeGreaterThan(0);
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);']);
    try {
      // the child spins 400 ms: the tree's total grows by at least 200 ms while it runs (or once it is reaped)
      await waitFor(() => (linuxTreeCpuMs() ?? 0) - before! >= 200, { timeoutMs: 10_000, message: 'child CPU time' });
    } finally {
      child.kill();
    }
  });

  it('returns null for a process that is not there', () => {
    expect(linuxTreeCpuMs(2 ** 22 + 12345)).toBeNull();
    expect(linuxTreeCpuMs(process.pid, '/nonexistent-proc')).toBeNull();
  });
});
