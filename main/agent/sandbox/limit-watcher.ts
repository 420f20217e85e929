// Watches a running job against the limits the kernel cannot name for us: memory (resident plus swapped, of
// all its processes together), processes and threads (the sandbox's RLIMIT_NPROC stops the next fork; this
// ends a job stuck at the cap, e.g. a fork bomb) and disk (its folders together). Past one it reports which,
// once, and the job is stopped with that reason. Per-process rlimits (open files, file size) stay the
// kernel's. Memory has no RLIMIT_AS/RLIMIT_DATA twin on purpose: runtimes (V8, the JVM, Go) reserve far more
// address space than they touch, a per-process cap does not bound a job of many processes, and a refused
// allocation fails inside the job where no reason can be given for it.
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobLimits } from '../../../protocol/api';

export interface LimitWatcherOptions {
  limits: JobLimits;
  /** Everything of the job on disk (workspace, home, temp folder). */
  jobDir: string;
  /** The job's running processes (Linux: pids to read from /proc); empty between commands. */
  processes: () => Promise<number[]>;
  /** Called once, with e.g. "memory limit 512 MiB reached". */
  onBreach: (reason: string) => void;
  /** How often processes are measured; default 100. */
  intervalMs?: number;
  /** Disk is walked at least this far apart, and never more than 5% of the time; default 1000. */
  diskIntervalMs?: number;
}

const MiB = 1024 * 1024;

/** "512 MiB", "2 GiB". */
export function formatMiB(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

interface Usage {
  memoryBytes: number;
  threads: number;
}

/** Resident and swapped memory and thread count of `pids`, from /proc/<pid>/status (gone ones count 0). */
export async function processUsage(pids: readonly number[]): Promise<Usage> {
  const usage: Usage = { memoryBytes: 0, threads: 0 };
  const statuses = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')));
  for (const status of statuses) {
    for (const line of status.split('\n')) {
      const [key, value] = line.split(':');
      if (key === 'VmRSS' || key === 'VmSwap') usage.memoryBytes += Number.parseInt(value!, 10) * 1024;
      else if (key === 'Threads') usage.threads += Number.parseInt(value!, 10);
    }
  }
  return usage;
}

/** Bytes on disk under `dir` (allocated blocks, so sparse files count what they use); links are not followed. */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(full);
    const info = await lstat(full).catch(() => null);
    if (info) total += info.blocks * 512;
  }
  return total;
}

export class LimitWatcher {
  private timer: NodeJS.Timeout | null = null;
  private breached = false;
  private nextDiskAt = 0;
  private readonly intervalMs: number;
  private readonly diskIntervalMs: number;
  private readonly measuresProcesses = process.platform === 'linux';

  constructor(private readonly options: LimitWatcherOptions) {
    this.intervalMs = options.intervalMs ?? 100;
    this.diskIntervalMs = options.diskIntervalMs ?? 1000;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.breached = true;
  }

  private schedule(): void {
    if (this.breached) return;
    this.timer = setTimeout(() => {
      this.check().then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, this.intervalMs);
  }

  private breach(reason: string): void {
    if (this.breached) return;
    this.stop();
    this.options.onBreach(reason);
  }

  private async check(): Promise<void> {
    const { limits } = this.options;
    if (this.measuresProcesses) {
      const usage = await processUsage(await this.options.processes());
      if (usage.memoryBytes >= limits.memoryMiB * MiB) return this.breach(`memory limit ${formatMiB(limits.memoryMiB)} reached`);
      // The sandbox's own init counts against RLIMIT_NPROC too: at limit - 1 the job cannot fork any more.
      if (usage.threads >= limits.processes - 1) return this.breach(`process limit ${limits.processes} reached`);
    }
    if (Date.now() >= this.nextDiskAt) {
      const started = performance.now();
      const used = await diskUsage(this.options.jobDir);
      const took = performance.now() - started;
      this.nextDiskAt = Date.now() + Math.max(this.diskIntervalMs, took * 20);
      if (used > limits.diskMiB * MiB) return this.breach(`disk limit ${formatMiB(limits.diskMiB)} reached`);
    }
  }
}
