// Lease time that only runs while both sides could hear each other. Deadlines inside the coordinator run on a
// monotonic clock (a wall-clock step of an hour neither expires a healthy lease nor keeps a dead worker alive),
// and after the coordinator could not listen (a stall, a restart) every lease gets a fresh lease TTL to be
// renewed before it counts as lost. The wall clock only stamps records.

export interface Clocks {
  /** Epoch ms: what records and the API show. */
  wall: () => number;
  /** Ms from an arbitrary start, never stepped: what deadlines are measured with. */
  mono: () => number;
}

export class LeaseClock {
  /** When each worker was last heard from (a heartbeat, a call on one of its leases): what keeps its leases. */
  private readonly workerHeard = new Map<string, number>();
  /**
   * When each worker was last seen without a word on its leases (a claim): it shows the worker online but keeps
   * no lease alive, so a lease whose claim answer was lost is not held forever by the claims that follow.
   */
  private readonly workerPresent = new Map<string, number>();
  /** When each lease this process handed out was granted. */
  private readonly leaseGranted = new Map<string, number>();
  /** Leases expired since their worker was last heard from. */
  private readonly expiredOf = new Map<string, Set<string>>();
  /** Each lease's job timeout. */
  private readonly timeouts = new Map<string, number>();
  /**
   * What this process last wrote or read in the store of each lease's expiry and each worker's last-seen time.
   * Coordinators sharing a store hear a worker through a value they did not write: another one renewed it.
   */
  private readonly stored = new Map<string, number>();
  /** The start of this process, or the end of its last stall: nobody could be heard before it. */
  private listeningSince: number;

  constructor(readonly clocks: Clocks) {
    this.listeningSince = clocks.mono();
  }

  heard(workerId: string): void {
    this.workerHeard.set(workerId, this.clocks.mono());
  }

  present(workerId: string): void {
    this.workerPresent.set(workerId, this.clocks.mono());
  }

  granted(leaseId: string, timeoutSec: number): void {
    const now = this.clocks.mono();
    this.leaseGranted.set(leaseId, now);
    this.timeouts.set(leaseId, now + timeoutSec * 1000);
  }

  ended(leaseId: string): void {
    this.leaseGranted.delete(leaseId);
    this.timeouts.delete(leaseId);
    this.stored.delete(leaseId);
  }

  /** This process wrote `value` (a lease's expiry, a worker's last-seen time) into the store under `id`. */
  wrote(id: string, value: number): void {
    this.stored.set(id, value);
  }

  /**
   * Whether the store holds a value under `id` that this process did not write: another coordinator renewed
   * the lease, or heard the worker. The lease (or worker) then counts as heard now, by this process's clock.
   * Compares values, never clocks: a wall-clock step on any coordinator changes nothing.
   */
  changedElsewhere(id: string, value: number, kind: 'lease' | 'worker'): boolean {
    if (this.stored.get(id) === value) return false;
    this.stored.set(id, value);
    if (kind === 'lease') this.leaseGranted.set(id, this.clocks.mono());
    else this.heard(id);
    return true;
  }

  /** A lease this process expired: its worker's next heartbeat may take it back if nobody else has. */
  expired(lease: { id: string; workerId: string }): void {
    const ids = this.expiredOf.get(lease.workerId) ?? new Set();
    ids.add(lease.id);
    this.expiredOf.set(lease.workerId, ids);
  }

  /** The worker's leases expired since it was last heard from, handed over once. */
  takeExpired(workerId: string): string[] {
    const ids = this.expiredOf.get(workerId);
    this.expiredOf.delete(workerId);
    return ids ? [...ids] : [];
  }

  forgetWorker(workerId: string): void {
    this.workerHeard.delete(workerId);
    this.stored.delete(workerId);
    this.workerPresent.delete(workerId);
    this.expiredOf.delete(workerId);
  }

  /** The coordinator could not listen (its event loop stood still): every lease and worker starts a fresh TTL. */
  stalled(): void {
    this.listeningSince = this.clocks.mono();
  }

  /** How long a worker has not been heard from, counting only time this process was listening. */
  workerSilentMs(workerId: string): number {
    return this.clocks.mono() - Math.max(this.workerHeard.get(workerId) ?? -Infinity, this.listeningSince);
  }

  /** How long a worker has not been seen at all (a claim counts), counting only time this process was listening. */
  workerAbsentMs(workerId: string): number {
    return Math.min(this.workerSilentMs(workerId), this.clocks.mono() - Math.max(this.workerPresent.get(workerId) ?? -Infinity, this.listeningSince));
  }

  /** How long a lease has gone without renewal, counting only time this process was listening. */
  leaseSilentMs(lease: { id: string; workerId: string }): number {
    return Math.min(this.workerSilentMs(lease.workerId), this.clocks.mono() - (this.leaseGranted.get(lease.id) ?? -Infinity));
  }

  /**
   * Ms past the job's timeout (negative before it). A lease granted before a restart carries its timeout as a
   * wall time; it is taken over once, as what was left of it then.
   */
  pastTimeoutMs(leaseId: string, wallTimeoutAt: number): number {
    let deadline = this.timeouts.get(leaseId);
    if (deadline === undefined) {
      deadline = this.clocks.mono() + (wallTimeoutAt - this.clocks.wall());
      this.timeouts.set(leaseId, deadline);
    }
    return this.clocks.mono() - deadline;
  }
}

/**
 * Notices the event loop standing still (SIGSTOP, a suspended VM, a long GC): a timer that fires much later
 * than asked. Meanwhile nobody could be heard, so that time must not count against leases.
 */
export class StallWatch {
  private last: number;

  constructor(
    private readonly mono: () => number,
    private readonly intervalMs: number,
    private readonly toleranceMs: number,
  ) {
    this.last = mono();
  }

  /** Called on each tick of the interval timer; true when the tick came late by more than the tolerance. */
  tick(): number | null {
    const now = this.mono();
    const late = now - this.last - this.intervalMs;
    this.last = now;
    return late > this.toleranceMs ? late : null;
  }
}
