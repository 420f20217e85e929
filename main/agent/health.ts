// Whether this worker can run jobs at all. A full disk, an exhausted file table or a shell that cannot be
// started fails every job for the worker's own reasons; such a worker says so (the pool shows why), takes no
// job, and hands back the one that hit the problem instead of failing it: another worker runs it, and no
// attempt is used. Disk problems are found before they fail a job where possible (free space is checked
// before each claim) and name the disk, not the job's ZIP.
import { statfs } from 'node:fs/promises';
import type { CompleteRequest } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';

/** Below this much free space on the work dir's disk the worker takes no job. */
export const DEFAULT_MIN_FREE_BYTES = 1024 * 1024;
/** A problem that cannot be measured (a failed spawn) is given this long before the worker tries again. */
export const PROBLEM_RETRY_MS = 60_000;

/** Error codes that are the worker's doing, whatever job met them. */
const DISK_CODES = ['ENOSPC', 'EDQUOT', 'EROFS', 'EIO'] as const;
const HOST_CODES = ['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN'] as const;

export class WorkerHealth {
  private problemNow: string | null = null;
  private until = 0;

  constructor(
    private readonly workDir: string,
    private readonly minFreeBytes = DEFAULT_MIN_FREE_BYTES,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Why this worker cannot take jobs now, or null; measures the disk afresh. */
  async check(): Promise<string | null> {
    if (this.problemNow && this.now() < this.until) return this.problemNow;
    this.problemNow = await this.diskProblem();
    return this.problemNow;
  }

  get problem(): string | null {
    return this.problemNow;
  }

  /** A job could not run: if for the worker's own reasons, records the problem and returns it. */
  fault(result: CompleteRequest): string | null {
    if (result.outcome !== 'error' || !result.error) return null;
    const code = [...DISK_CODES, ...HOST_CODES].find((c) => new RegExp(`\\b${c}\\b`).test(result.error!));
    const spawnFailed = result.reason === 'worker_error' && /\bspawn\b/.test(result.error);
    if (!code && !spawnFailed) return null;
    this.problemNow = (DISK_CODES as readonly string[]).includes(code ?? '')
      ? `the disk holding ${this.workDir} failed (${code}): ${result.error}`
      : `this worker cannot run jobs (${code ?? 'spawn failed'}): ${result.error}`;
    this.until = this.now() + PROBLEM_RETRY_MS;
    return this.problemNow;
  }

  private async diskProblem(): Promise<string | null> {
    try {
      const disk = await statfs(this.workDir);
      const free = disk.bavail * disk.bsize;
      if (free >= this.minFreeBytes) return null;
      return `the disk holding ${this.workDir} is full (${Math.floor(free / 1024)} KiB free, ${Math.floor(this.minFreeBytes / 1024)} KiB needed)`;
    } catch (err) {
      return `the disk holding ${this.workDir} cannot be read: ${(err as Error).message}`;
    }
  }
}

/**
 * The client jobs report through: a result saying the job could not run because of this worker is turned into
 * a hand-back (the job runs elsewhere without using an attempt), and the worker is marked unhealthy.
 */
export function handingBackWorkerFaults(client: ApiClient, health: WorkerHealth, onFault: (problem: string) => void): ApiClient {
  const guarded = Object.create(client) as ApiClient;
  guarded.completeAndClaim = async (leaseId, result, artifacts, signal) => {
    const problem = health.fault(result);
    if (!problem) return client.completeAndClaim(leaseId, result, artifacts, signal);
    onFault(problem);
    // The attempt's stream is kept as any handed-back attempt's is; no next job for an unhealthy worker.
    if (result.output?.length) await client.sendOutput(leaseId, result.output);
    await client.release(leaseId, 'vacated');
    return { job: { id: '', state: 'queued' }, next: null }; // the reporter only reads `next`
  };
  return guarded;
}
