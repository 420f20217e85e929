// Fair share, as HTCondor has it: among queued jobs of equal priority, the person who has used the pool least
// goes first, so one person's thousand jobs do not hold up a colleague's one. Usage is run time in slot-seconds
// (a lease held for a minute is 60), halving every `halfLifeMs`; jobs running now count for the time they have run.
// Priority still wins over fair share, and one person's jobs still go in age order.
import type { PoolShare } from '../../protocol/api';
import type { JobRecord, LeaseRecord, PoolUsageRecord, StoreOps } from '../store/types';

interface Standing {
  /** Decayed past usage plus the run time so far of the jobs running now. */
  slotSeconds: number;
  running: number;
  /** When they last used the pool (a lease ended, or the latest running one began): the longer ago, the sooner. */
  lastUsedAt: number;
}

export class FairShare {
  constructor(
    private readonly now: () => number,
    private readonly halfLifeMs: number,
  ) {}

  private decayed(slotSeconds: number, at: number, now: number): number {
    return slotSeconds * 2 ** (-Math.max(0, now - at) / this.halfLifeMs);
  }

  private standing(row: PoolUsageRecord, now: number): Standing {
    const runningMs = row.running * now - row.runningLeasedAtSum;
    return {
      slotSeconds: this.decayed(row.slotSeconds, row.at, now) + Math.max(0, runningMs) / 1000,
      running: row.running,
      lastUsedAt: Math.max(row.at, row.latestLeasedAt),
    };
  }

  /** A lease ended: its run time is added to the submitter's usage (decayed to now first), in one atomic step. */
  async charge(tx: StoreOps, job: JobRecord, lease: LeaseRecord): Promise<void> {
    const now = this.now();
    await tx.chargeUsage(job.submittedBy, Math.max(0, now - lease.leasedAt) / 1000, now, this.halfLifeMs);
  }

  /**
   * The job to run first of `heads` (each the best of its bucket × person): highest priority; among those, the
   * person with the least usage, then the fewest jobs running now, then who used the pool least recently; then
   * the oldest job. Usage is read only when
   * two people are in the running, so a queue of one person's jobs costs nothing more.
   */
  async best(tx: StoreOps, heads: JobRecord[]): Promise<JobRecord | undefined> {
    if (heads.length === 0) return undefined;
    const top = Math.max(...heads.map((j) => j.spec.priority));
    const contenders = heads.filter((j) => j.spec.priority === top);
    const oldest = (jobs: JobRecord[]) => jobs.reduce((a, b) => (b.seq < a.seq ? b : a));
    if (new Set(contenders.map((j) => j.submittedBy)).size === 1) return oldest(contenders);
    const now = this.now();
    const standings = new Map((await tx.poolUsage()).map((row) => [row.submitter, this.standing(row, now)]));
    const idle: Standing = { slotSeconds: 0, running: 0, lastUsedAt: 0 };
    const rank = (job: JobRecord) => standings.get(job.submittedBy) ?? idle;
    return contenders.reduce((a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      if (ra.slotSeconds !== rb.slotSeconds) return rb.slotSeconds < ra.slotSeconds ? b : a;
      if (ra.running !== rb.running) return rb.running < ra.running ? b : a;
      if (ra.lastUsedAt !== rb.lastUsedAt) return rb.lastUsedAt < ra.lastUsedAt ? b : a;
      return b.seq < a.seq ? b : a;
    });
  }

  /** Each person's usage now and their share of the pool's (what the jobs list shows), most first: one query. */
  async shares(tx: StoreOps): Promise<PoolShare[]> {
    const now = this.now();
    const rows = (await tx.poolUsage()).map((row) => ({ submitter: row.submitter, ...this.standing(row, now) }));
    const total = rows.reduce((sum, r) => sum + r.slotSeconds, 0);
    return rows
      .map((r) => ({
        submitter: r.submitter,
        slotSeconds: Math.round(r.slotSeconds),
        running: r.running,
        share: total > 0 ? r.slotSeconds / total : 0,
      }))
      .filter((r) => r.slotSeconds > 0 || r.running > 0)
      .sort((a, b) => b.share - a.share || a.submitter.localeCompare(b.submitter));
  }
}
