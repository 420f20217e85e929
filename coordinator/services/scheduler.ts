// The worker's side of the pool: registration, heartbeats, long-poll claims, leases and their expiry.
// Knows nothing of HTTP; every state change is one store transaction.
import { createHash, randomUUID } from 'node:crypto';
import {
  isolationFits,
  API_PREFIX,
  type ClaimFilter,
  type ClaimResponse,
  type CommandRecordChunk,
  type CompleteRequest,
  type CompleteResponse,
  OUTPUT_CLOSED,
  SEQ_GAP,
  type HeartbeatResponse,
  type Job,
  type LeaseDirective,
  isOutputData,
  type OutputAck,
  type OutputStream,
  type StreamChunk,
  type RegisterWorkerRequest,
  type RegisterWorkerResponse,
  type ReportedWorkerState,
  type Worker,
  type WorkerAdminState,
  type WorkerDetail,
  type WorkerState,
} from '../../protocol/api';
import { hostLabel } from '../../protocol/host-label';
import { protocolMismatch } from '../../protocol/versions';
import { maskSecretBytes } from '../../protocol/secrets';
import { AuthorizationError, ConflictError, NotFoundError, StaleLeaseError, UnsupportedProtocolError, ValidationError } from '../errors';
import type { Logger } from '../middleware/errors';
import type { JobRecord, LeaseRecord, Store, StoreOps, WorkerRecord } from '../store/types';
import type { FairShare } from './fair-share';
import type { JobLog } from './job-state';
import type { LeaseClock } from './lease-clock';
import type { OutputLog, OutputPiece } from './output-log';
import { WORKER_TOKEN_PREFIX, type JobService } from './jobs';
import type { TokenService } from './tokens';
import type { WorkerAvailability } from './waiting';
import type { WorkerControl } from './worker-control';

/** A chunk of a lease's numbered stream as the coordinator takes it: from JSON, or output bytes from a raw upload. */
export type StoredChunk = StreamChunk | { seq: number; stream: OutputStream; data: Buffer };

export interface SchedulerConfig {
  leaseTtlMs: number;
  heartbeatIntervalSec: number;
  offlineAfterMs: number;
  /** How long after a job's timeout the coordinator waits for the worker to report before ending it itself. */
  timeoutGraceMs: number;
}

export interface SchedulerMetrics {
  observeClaimLatency(seconds: number): void;
  countLeaseExpiry(): void;
}

/** How many of a worker's latest jobs its page lists. */
const RECENT_JOBS = 20;

interface Waiter {
  worker: WorkerRecord;
  filter: ClaimFilter;
  fits: (job: JobRecord) => boolean;
  /** Set when the claim rode on a completion: the lease completed, and the id the next lease gets. */
  after?: { leaseId: string; nextLeaseId: string };
  /** Answers the claim; false when it had already ended (timed out, or its client left) and took nothing. */
  resolve: (result: ClaimResponse | null) => boolean;
}

/**
 * The id of the lease handed out with the completion of `leaseId`: derived, so a retried completion finds the
 * assignment its lost answer carried, and a second one cannot be handed out (the id is taken).
 */
export const nextLeaseIdAfter = (leaseId: string) => `lse_${createHash('sha256').update(`next:${leaseId}`).digest('hex').slice(0, 32)}`;

const labelsCover = (have: readonly string[], need: readonly string[]) => need.every((label) => have.includes(label));

/**
 * Whether a worker may take a job: it carries every label the job needs and the isolation it asks for (and,
 * if the claim says so, the job needs `onlyLabels` and came from one of `onlySubmitters`).
 */
const fitsWorker = (worker: WorkerRecord, filter: ClaimFilter) => (job: JobRecord) =>
  labelsCover(worker.labels, job.spec.labels) &&
  labelsCover(job.spec.labels, filter.onlyLabels ?? []) &&
  isolationFits(worker.isolation, job.spec) &&
  (filter.onlySubmitters === undefined || filter.onlySubmitters.includes(job.submittedBy));

/** Refuses a worker speaking a protocol this coordinator no longer (or not yet) speaks; null stands for protocol 1. */
export function requireProtocol(protocolVersion: number | null | undefined): void {
  const mismatch = protocolMismatch(protocolVersion ?? 1);
  if (mismatch) throw new UnsupportedProtocolError(mismatch);
}

export class Scheduler {
  private readonly waiters = new Set<Waiter>();
  /** Claims each worker has parked: an idle worker's sign of life while it writes nothing. */
  private readonly parkedBy = new Map<string, number>();
  /** When each worker was last seen by this process (wall ms): its stored lastSeenAt is written only with its leases. */
  private readonly seenAt = new Map<string, number>();
  /** Heartbeats waiting for the next batch: one transaction, one renewal statement for all of them. */
  private beats: { workerId: string; state: ReportedWorkerState | undefined; done: (leases: LeaseRecord[] | Error) => void }[] = [];
  /** Problems workers reported of themselves (kept in memory: each heartbeat says it again). */
  private readonly problems = new Map<string, string>();
  private takenHostLabels: Set<string> | undefined;
  private draining = false;
  private drainAgain = false;
  /** Counts wakes: a claim that found nothing and then parks checks none came while it looked. */
  private wakes = 0;
  /** A wake asked that jobs this process's claims leave be offered to the other coordinators, at the drain's end. */
  private offering = false;
  /**
   * Tells the other coordinators sharing the store that jobs are queued (set by the app when the store is shared):
   * only for jobs left once this process's own waiting claims took theirs, so a job a claim here takes costs no
   * notification and no other coordinator's look at the queue.
   */
  offerElsewhere: () => void = () => {};

  constructor(
    private readonly store: Store,
    private readonly log: JobLog,
    private readonly jobs: JobService,
    private readonly tokens: TokenService,
    private readonly now: () => number,
    private readonly config: SchedulerConfig,
    private readonly metrics: SchedulerMetrics,
    private readonly leaseClock: LeaseClock,
    private readonly logger: Logger,
    private readonly output: OutputLog,
    private readonly fairShare: FairShare,
    /** Tells a worker at once that a job it runs timed out. */
    private readonly control: WorkerControl,
  ) {}

  // ---- workers ----

  /**
   * The coordinator names workers: a name (and so its `host:` label, which pins jobs to one PC) already in the
   * pool gets a number added, and `host:` labels a worker asks for are replaced by its own.
   */
  private async uniqueName(requested: string): Promise<string> {
    // Read once, then kept here (only this process registers and removes workers): thousands of workers join fast.
    // Coordinators sharing the store register workers too: each registration reads the names again.
    const names = async () => new Set((await this.store.listWorkers()).map((w) => hostLabel(w.name)));
    const taken = this.store.shared ? await names() : (this.takenHostLabels ??= await names());
    let name = requested;
    for (let n = 2; taken.has(hostLabel(name)); n++) name = `${requested.slice(0, 120)}-${n}`;
    // Claimed before the next await, so two workers asking for one name at once get two names.
    taken.add(hostLabel(name));
    return name;
  }

  async register(request: RegisterWorkerRequest): Promise<RegisterWorkerResponse> {
    requireProtocol(request.protocolVersion);
    const now = this.now();
    const name = await this.uniqueName(request.name);
    const worker: WorkerRecord = {
      id: `wkr_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      name,
      os: request.os,
      arch: request.arch ?? null,
      cpus: request.cpus ?? null,
      memoryBytes: request.memoryBytes ?? null,
      labels: [...new Set([...(request.labels ?? []).filter((l) => !l.startsWith('host:')), hostLabel(name)])],
      slots: request.slots ?? 1,
      version: request.version ?? null,
      protocolVersion: request.protocolVersion ?? null,
      isolation: request.isolation ?? null,
      registeredAt: now,
      lastSeenAt: now,
      reportedState: 'active',
      adminState: 'active',
    };
    await this.store.insertWorker(worker);
    this.leaseClock.heard(worker.id);
    this.leaseClock.wrote(worker.id, now);
    this.logger.info('worker registered', { worker: worker.id, name: worker.name, labels: worker.labels.join(','), slots: worker.slots });
    const token = await this.tokens.create(`${WORKER_TOKEN_PREFIX}${worker.name}`, 'worker', worker.id);
    return {
      worker: await this.workerView(worker),
      token,
      heartbeatIntervalSec: this.config.heartbeatIntervalSec,
      leaseTtlSec: this.config.leaseTtlMs / 1000,
    };
  }

  async requireWorker(id: string): Promise<WorkerRecord> {
    const worker = await this.store.getWorker(id);
    if (!worker) throw new NotFoundError(`no worker with id "${id}"`);
    return worker;
  }

  /** Hands the worker's jobs back to the queue (not counted as failures) and forgets the worker. */
  async deregister(id: string): Promise<void> {
    const worker = await this.requireWorker(id);
    await this.store.transaction(async (tx) => {
      for (const lease of await tx.activeLeasesOfWorker(id)) await this.endLease(tx, lease, 'released');
      await tx.deleteWorker(id);
    });
    this.leaseClock.forgetWorker(id);
    this.seenAt.delete(id);
    this.problems.delete(id);
    await this.tokens.revoke({ workerId: id });
    this.takenHostLabels?.delete(hostLabel(worker.name));
    this.dropWaitersOf(id);
    this.control.disconnect(id);
    this.logger.info('worker deregistered', { worker: id });
    this.wakeWaiters();
  }

  /** An admin pauses, drains or resumes a worker; its waiting claim (if any) ends with nothing. */
  async setAdminState(id: string, adminState: WorkerAdminState): Promise<Worker> {
    await this.requireWorker(id);
    await this.store.updateWorker(id, { adminState });
    if (adminState !== 'active') this.dropWaitersOf(id);
    return this.workerView(await this.requireWorker(id));
  }

  private dropWaitersOf(workerId: string): void {
    for (const waiter of this.waiters) if (waiter.worker.id === workerId) waiter.resolve(null);
  }

  /** The worker showed itself (a claim): online, but its leases are not renewed by it (see LeaseClock.present). */
  private seen(workerId: string): void {
    this.leaseClock.present(workerId);
    this.seenAt.set(workerId, this.now());
  }

  workerState(worker: WorkerRecord, activeLeases: number): WorkerState {
    if (this.store.shared) this.leaseClock.changedElsewhere(worker.id, worker.lastSeenAt, 'worker');
    if (!this.parkedBy.has(worker.id) && this.leaseClock.workerAbsentMs(worker.id) > this.config.offlineAfterMs) return 'offline';
    if (this.problems.has(worker.id)) return 'unhealthy';
    if (worker.reportedState === 'suspended') return 'suspended';
    if (activeLeases > 0) return 'busy';
    return worker.reportedState === 'paused' ? 'paused' : 'idle';
  }

  async workerView(worker: WorkerRecord): Promise<Worker> {
    return this.presentWorker(worker, await this.store.currentJobs(worker.id));
  }

  private presentWorker(worker: WorkerRecord, currentJobs: Worker['currentJobs']): Worker {
    return {
      id: worker.id,
      name: worker.name,
      os: worker.os,
      arch: worker.arch,
      cpus: worker.cpus,
      memoryBytes: worker.memoryBytes,
      labels: worker.labels,
      slots: worker.slots,
      version: worker.version,
      protocolVersion: worker.protocolVersion,
      isolation: worker.isolation,
      state: this.workerState(worker, currentJobs.length),
      ...(this.problems.has(worker.id) ? { problem: this.problems.get(worker.id)! } : {}),
      adminState: worker.adminState,
      registeredAt: new Date(worker.registeredAt).toISOString(),
      lastSeenAt: new Date(Math.max(worker.lastSeenAt, this.seenAt.get(worker.id) ?? 0)).toISOString(),
      currentJobs,
    };
  }

  /**
   * Each worker's facts a waiting reason needs, in two queries whatever the pool's size: every queued job's view
   * (a submit's answer among them) reads it, so it must not cost the per-worker queries of listWorkers().
   */
  async availability(): Promise<WorkerAvailability[]> {
    const [workers, busy] = await Promise.all([this.store.listWorkers(), this.store.activeLeaseCounts()]);
    return workers.map((worker) => {
      const busySlots = busy.get(worker.id) ?? 0;
      const { name, labels, isolation, slots } = worker;
      return { name, labels, isolation, slots, busySlots, state: this.workerState(worker, busySlots) };
    });
  }

  /** A worker and its latest jobs (RECENT_JOBS of them, an attempt each), newest first. */
  async workerDetail(id: string): Promise<WorkerDetail> {
    const worker = await this.workerView(await this.requireWorker(id));
    const leases = await this.store.recentLeasesOfWorker(id, RECENT_JOBS);
    const recentJobs: WorkerDetail['recentJobs'] = [];
    for (const lease of leases) {
      const job = await this.store.getJob(lease.jobId);
      if (!job) continue;
      recentJobs.push({
        id: job.id,
        name: job.name,
        state: job.state,
        submittedBy: job.submittedBy,
        attempt: lease.attempt,
        leasedAt: new Date(lease.leasedAt).toISOString(),
        endedAt: lease.endedAt === null ? null : new Date(lease.endedAt).toISOString(),
        outcome: lease.status,
      });
    }
    return { worker, recentJobs };
  }

  /** Every worker with its current jobs, in two queries whatever the pool's size. */
  async listWorkers(): Promise<Worker[]> {
    const [workers, current] = await Promise.all([this.store.listWorkers(), this.store.currentJobs()]);
    const byWorker = new Map<string, Worker['currentJobs']>();
    for (const { workerId, ...job } of current) byWorker.set(workerId, [...(byWorker.get(workerId) ?? []), job]);
    return workers.map((worker) => this.presentWorker(worker, byWorker.get(worker.id) ?? []));
  }

  async heartbeat(workerId: string, state: ReportedWorkerState | undefined, problem?: string | null): Promise<HeartbeatResponse> {
    this.leaseClock.heard(workerId);
    if (problem !== undefined) this.setProblem(workerId, problem);
    const leases = await new Promise<LeaseRecord[]>((resolve, reject) => {
      if (this.beats.length === 0) setImmediate(() => void this.renewBatch());
      this.beats.push({ workerId, state, done: (answer) => (answer instanceof Error ? reject(answer) : resolve(answer)) });
    });
    return {
      stop: this.directives(leases),
      leases: leases.map((l) => ({ leaseId: l.id, jobId: l.jobId, expiresAt: new Date(l.expiresAt).toISOString() })),
      heartbeatIntervalSec: this.config.heartbeatIntervalSec,
    };
  }

  /**
   * The heartbeats that arrived in one turn of the event loop, in one transaction: a worker's reported state is
   * written only when it changed, and every lease of these workers is renewed (and the workers stamped seen) in
   * one statement.
   */
  private async renewBatch(): Promise<void> {
    const beats = this.beats;
    this.beats = [];
    const now = this.now();
    try {
      const answers = await this.store.transaction(async (tx) => {
        const ids = [...new Set(beats.map((b) => b.workerId))];
        for (const { workerId, state } of beats) {
          if (state && (await tx.getWorker(workerId))?.reportedState !== state) await tx.updateWorker(workerId, { reportedState: state });
          for (const leaseId of this.leaseClock.takeExpired(workerId)) {
            const lease = await tx.getLease(leaseId);
            if (lease) await this.revive(tx, lease);
          }
        }
        await tx.renewLeases(ids, now, now + this.config.leaseTtlMs);
        return new Map(await Promise.all(ids.map(async (id) => [id, await tx.activeLeasesOfWorker(id)] as const)));
      });
      // What this process wrote is no sign of another coordinator hearing these workers (changedElsewhere).
      for (const [workerId, leases] of answers) {
        this.leaseClock.wrote(workerId, now);
        for (const lease of leases) this.leaseClock.wrote(lease.id, lease.expiresAt);
      }
      for (const beat of beats) beat.done(answers.get(beat.workerId)!);
    } catch (err) {
      for (const beat of beats) beat.done(err as Error);
    }
  }

  private setProblem(workerId: string, problem: string | null): void {
    if ((this.problems.get(workerId) ?? null) === problem) return;
    if (problem) {
      this.problems.set(workerId, problem);
      for (const waiter of this.waiters) if (waiter.worker.id === workerId) waiter.resolve(null);
      this.logger.warn('worker unhealthy: it takes no job until fixed', { worker: workerId, reason: problem });
    } else {
      this.problems.delete(workerId);
      this.logger.info('worker healthy again', { worker: workerId });
      this.wakeWaiters();
    }
  }

  /** The stops recorded for the worker's leases: what a control stream sends first when it (re)connects. */
  async stopsOf(workerId: string): Promise<LeaseDirective[]> {
    return this.directives(await this.store.activeLeasesOfWorker(workerId));
  }

  private directives(leases: LeaseRecord[]): LeaseDirective[] {
    return leases
      .filter((l) => l.stopReason)
      .map((l) => ({ jobId: l.jobId, leaseId: l.id, reason: l.stopReason! }));
  }

  // ---- claims ----

  /** Long poll: a job now if one fits, else waits up to `waitMs` for one to be submitted or requeued. */
  /** `worker`: as the caller read it for this claim (the route reads it once for its own checks too). */
  async claim(
    worker: WorkerRecord,
    waitMs: number,
    signal: AbortSignal,
    filter: ClaimFilter = {},
    onPark?: () => void,
  ): Promise<ClaimResponse | null> {
    const workerId = worker.id;
    // Registered before this coordinator dropped its protocol (an upgrade): told why, and given nothing.
    requireProtocol(worker.protocolVersion);
    // An unhealthy worker would fail what it took: it is handed nothing until it reports the problem gone.
    if (this.problems.has(workerId)) return null;
    if (worker.adminState !== 'active') {
      // Held by an admin: answer at the end of the wait, so the agent does not ask again at once (parked meanwhile).
      this.parkedBy.set(workerId, (this.parkedBy.get(workerId) ?? 0) + 1);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      this.unpark(workerId);
      return null;
    }
    this.seen(workerId);
    const wakesBefore = this.wakes;
    const immediate = await this.store.transaction((tx) => this.claimFirstFitting(tx, worker, filter));
    if (immediate || waitMs === 0 || signal.aborted) return immediate;
    // A job committed while the claim looked (another transaction runs beside ours on PostgreSQL; SQLite runs
    // them one at a time) woke nobody: this claim was not parked yet. It is parked below, so wake again.
    if (this.wakes !== wakesBefore) queueMicrotask(() => this.wakeWaiters());
    onPark?.();
    return this.park(worker, filter, waitMs, signal);
  }

  /**
   * Waits up to `waitMs` for a job the worker fits. A parked claim is the idle worker's sign of life: while it
   * waits the worker counts as heard (it writes nothing), and its end is heard too.
   */
  private park(
    worker: WorkerRecord,
    filter: ClaimFilter,
    waitMs: number,
    signal: AbortSignal,
    after?: Waiter['after'],
  ): Promise<ClaimResponse | null> {
    this.parkedBy.set(worker.id, (this.parkedBy.get(worker.id) ?? 0) + 1);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        worker,
        filter,
        fits: fitsWorker(worker, filter),
        ...(after ? { after } : {}),
        resolve: (result) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          if (!this.waiters.delete(waiter)) return false;
          this.unpark(worker.id);
          resolve(result);
          return true;
        },
      };
      const onAbort = () => waiter.resolve(null);
      const timer = setTimeout(onAbort, waitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** A parked claim ended: the worker was there until now. */
  private unpark(workerId: string): void {
    const left = (this.parkedBy.get(workerId) ?? 1) - 1;
    if (left > 0) this.parkedBy.set(workerId, left);
    else this.parkedBy.delete(workerId);
    this.seen(workerId);
  }

  get waitingClaims(): number {
    return this.waiters.size;
  }

  /**
   * Something became claimable: hand it to waiting workers, first come first served. `offer`: what they leave is
   * offered to the other coordinators (a submit here, say; not a wake another coordinator's offer caused).
   */
  wakeWaiters(offer = false): void {
    this.wakes++;
    if (offer) this.offering = true;
    if (this.waiters.size === 0) {
      this.settleOffer(true);
      return;
    }
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    void (async () => {
      let left = true;
      try {
        do {
          this.drainAgain = false;
          left = await this.drainOnce();
        } while (this.drainAgain);
      } finally {
        this.draining = false;
        this.settleOffer(left);
      }
    })();
  }

  private settleOffer(jobsLeft: boolean): void {
    if (this.offering && jobsLeft) this.offerElsewhere();
    this.offering = false;
  }

  /**
   * Hands each waiting worker, first come first served, the best queued job it fits; true if queued jobs may be
   * left (none of these claims fit them, or there was no claim to look for). Each lease reads the heads in its
   * transaction, locked: a head another transaction (another coordinator) is leasing is skipped, never waited for.
   */
  private async drainOnce(): Promise<boolean> {
    // Workers whose slots turned out full (a claim answered meanwhile) wait for the next wake.
    const full = new Set<Waiter>();
    for (;;) {
      const candidates = [...this.waiters].filter((w) => !full.has(w) && !this.problems.has(w.worker.id));
      if (candidates.length === 0) return true;
      type Taken = { waiter: Waiter; result: Awaited<ReturnType<Scheduler['leaseJob']>> } | { queuedHeads: number };
      const taken = await this.store.transaction(async (tx): Promise<Taken> => {
        const heads = await tx.queueHeads();
        for (const waiter of candidates) {
          // The heads of every bucket: a waiter's own filter (`onlySubmitters` among it) picks its share of them.
          const job = await this.fairShare.best(tx, heads.filter(waiter.fits));
          if (job) return { waiter, result: await this.leaseJob(tx, waiter.worker, job.id, waiter.after?.nextLeaseId) };
        }
        return { queuedHeads: heads.length };
      });
      if ('queuedHeads' in taken) return taken.queuedHeads > 0;
      const { waiter, result } = taken;
      if (result === 'no_free_slot') full.add(waiter);
      // The claim ended while its job was being leased (its wait ran out, its client left): the job goes back.
      else if (result !== 'job_taken' && !waiter.resolve(result)) await this.handBackUnanswered(result.lease.id);
    }
  }

  /** The best queued job the worker fits, leased to it in `tx` (under `leaseId` when given); null when none fits or its slots are full. */
  private async claimFirstFitting(tx: StoreOps, worker: WorkerRecord, filter: ClaimFilter, leaseId?: string): Promise<ClaimResponse | null> {
    const active = await tx.activeLeasesOfWorker(worker.id);
    if (active.length >= worker.slots) return null;
    const job = await this.fairShare.best(tx, (await tx.queueHeads(filter.onlySubmitters)).filter(fitsWorker(worker, filter)));
    if (!job) return null;
    const result = await this.leaseJob(tx, worker, job.id, leaseId, active);
    return typeof result === 'string' ? null : result;
  }

  /** `active`: the worker's active leases, when `tx` has read (and so locked) them already. */
  private async leaseJob(
    tx: StoreOps,
    worker: WorkerRecord,
    jobId: string,
    leaseId = `lse_${randomUUID().replace(/-/g, '')}`,
    active?: LeaseRecord[],
  ): Promise<ClaimResponse | 'job_taken' | 'no_free_slot'> {
    const job = await tx.getJob(jobId);
    if (!job || job.state !== 'queued') return 'job_taken';
    active ??= await tx.activeLeasesOfWorker(worker.id);
    if (active.length >= worker.slots) return 'no_free_slot';
    const now = this.now();
    const lease: LeaseRecord = {
      id: leaseId,
      jobId,
      workerId: worker.id,
      attempt: job.attempt + 1,
      status: 'active',
      leasedAt: now,
      expiresAt: now + this.config.leaseTtlMs,
      endedAt: null,
      nextSeq: 0,
      stopReason: null,
    };
    await tx.insertLease(lease);
    this.leaseClock.granted(lease.id, job.spec.timeoutSec);
    this.leaseClock.wrote(lease.id, lease.expiresAt);
    const leased = await this.log.update(tx, job, {
      state: 'leased',
      attempt: lease.attempt,
      workerId: worker.id,
      leaseId: lease.id,
      timeoutAt: now + job.spec.timeoutSec * 1000,
      outputHeadBytes: 0,
      outputTailBytes: 0,
      outputDroppedBytes: 0,
    });
    this.metrics.observeClaimLatency(Math.max(0, now - job.queuedAt) / 1000);
    return this.assignment(leased, lease, active);
  }

  /** What the worker needs to run a lease: the job (its secrets only here), the lease, and leases to stop. */
  private assignment(job: JobRecord, lease: LeaseRecord, active: LeaseRecord[]): ClaimResponse {
    const { secrets = {}, ...spec } = job.spec;
    return {
      job: {
        id: job.id,
        name: job.name,
        attempt: job.attempt,
        spec,
        secrets,
        bundle: job.bundleSha ? { sha256: job.bundleSha, size: job.bundleSize ?? 0 } : null,
      },
      lease: { id: lease.id, expiresAt: new Date(lease.expiresAt).toISOString(), ttlSec: this.config.leaseTtlMs / 1000 },
      bundleUrl: job.bundleSha ? `${API_PREFIX}/leases/${lease.id}/bundle` : null,
      stop: this.directives(active),
    };
  }

  // ---- lease calls ----

  /**
   * The lease, if it is this worker's and still active; otherwise the error that explains why not. `read`: the
   * lease as `tx` read it already (null: there is none), so it is not read twice.
   */
  private async activeLease(
    tx: StoreOps,
    leaseId: string,
    workerId: string,
    read?: LeaseRecord | null,
  ): Promise<{ lease: LeaseRecord; job: JobRecord }> {
    let lease = read === undefined ? await tx.getLease(leaseId) : (read ?? undefined);
    if (!lease) throw new NotFoundError(`no lease with id "${leaseId}"`);
    if (lease.workerId !== workerId) throw new AuthorizationError(`lease ${leaseId} belongs to another worker`);
    this.leaseClock.heard(workerId);
    if (lease.status === 'expired' && (await this.revive(tx, lease))) lease = (await tx.getLease(leaseId))!;
    if (lease.status !== 'active') throw new StaleLeaseError(leaseId, `it is ${lease.status}`);
    const job = await this.jobs.require(lease.jobId, tx);
    return { lease, job };
  }

  /**
   * A worker whose lease expired is heard from again, and nobody else has taken the job since: its run goes on
   * (its result, its output) instead of being thrown away. The lost attempt it was counted as is given back.
   */
  private async revive(tx: StoreOps, lease: LeaseRecord): Promise<boolean> {
    if (lease.status !== 'expired') return false;
    const job = await tx.getJob(lease.jobId);
    if (!job || job.state !== 'queued' || job.attempt !== lease.attempt || job.leaseId !== null || job.cancelRequested) return false;
    const now = this.now();
    await tx.updateLease(lease.id, { status: 'active', endedAt: null, expiresAt: now + this.config.leaseTtlMs });
    this.leaseClock.wrote(lease.id, now + this.config.leaseTtlMs);
    this.leaseClock.granted(lease.id, Math.max(0, job.spec.timeoutSec - (now - lease.leasedAt) / 1000));
    await this.log.update(tx, job, {
      state: 'running',
      failures: Math.max(0, job.failures - 1),
      workerId: lease.workerId,
      leaseId: lease.id,
      startedAt: lease.leasedAt,
      timeoutAt: lease.leasedAt + job.spec.timeoutSec * 1000,
    });
    this.logger.info('lease renewed after expiry', { job: job.id, lease: lease.id, worker: lease.workerId, reason: 'worker heard again before the job was taken' });
    return true;
  }

  async leaseForBundle(leaseId: string, workerId: string): Promise<JobRecord> {
    return (await this.activeLease(this.store, leaseId, workerId)).job;
  }

  async setLeaseState(leaseId: string, workerId: string, state: 'running' | 'suspended'): Promise<void> {
    await this.store.transaction(async (tx) => {
      const { job } = await this.activeLease(tx, leaseId, workerId);
      if (job.state === state) return;
      await this.log.update(tx, job, { state, ...(state === 'running' && !job.startedAt ? { startedAt: this.now() } : {}) });
    });
  }

  /**
   * Stores the lease's numbered stream: output and command records, in sequence order. Output is appended to the
   * attempt's log files, then how much there is (the job's counters and stream end, the lease's next sequence
   * number) is committed in one transaction: the acknowledgement follows both, so a byte acknowledged is never
   * lost, and a retried batch (sequence numbers below `nextSeq`) is never written twice. A command record is
   * committed after the bytes before it: it takes its place in the output from the committed end.
   * One call per lease at a time on every coordinator sharing the store (the store's lock, held from reading the
   * committed end to the commit): a retry that overtakes a slow first try, here or on another node, waits for it
   * and finds its chunks stored, and no node writes at an end another has moved since.
   */
  async appendOutput(leaseId: string, workerId: string, chunks: readonly StoredChunk[]): Promise<OutputAck> {
    return this.store.withLock(`output:${leaseId}`, () => this.appendStream(leaseId, workerId, chunks));
  }

  /**
   * How far the lease's stream is committed: where a cut upload resumes. Read under the lease's output lock, so
   * output any coordinator is still storing for the lease (the batches of an upload cut mid-body) is counted.
   */
  async outputPosition(leaseId: string, workerId: string): Promise<OutputAck> {
    return this.store.withLock(`output:${leaseId}`, async () => {
      const { lease } = await this.store.transaction((tx) => this.activeLease(tx, leaseId, workerId));
      return { nextSeq: lease.nextSeq };
    });
  }

  /** Once a stop (cancel, timeout) is recorded the job's output is closed: what the worker still had on its way is not kept. */
  private outputOpen(lease: LeaseRecord, job: JobRecord): void {
    if (!lease.stopReason) return;
    const why = lease.stopReason === 'cancelled' ? 'cancelled' : 'stopped at its timeout';
    throw new ConflictError(`job ${job.id} was ${why}; no more output is taken for it`, OUTPUT_CLOSED);
  }

  /**
   * One batch of the stream: its new output is written to the files in one append, then its command records, the
   * job's counters and stream end and the lease's next sequence number are committed in one transaction. A record
   * takes its place after the bytes before it: each output byte advances the stream's end by one.
   */
  private async appendStream(leaseId: string, workerId: string, chunks: readonly StoredChunk[]): Promise<OutputAck> {
    const { lease, job } = await this.store.transaction((tx) => this.activeLease(tx, leaseId, workerId));
    const sorted = [...chunks].sort((a, b) => a.seq - b.seq);
    const carriesOutput = sorted.some((chunk) => isOutputData(chunk) && chunk.seq >= lease.nextSeq);
    if (carriesOutput) this.outputOpen(lease, job);
    // Masked again here: an agent that did not mask (old, or not ours) must not land a secret in the log.
    const secrets = Object.values(job.spec.secrets ?? {});
    const pieces: OutputPiece[] = [];
    /** The new chunks in order, each output chunk with the bytes it adds. */
    const fresh: { chunk: StoredChunk; bytes: number }[] = [];
    let nextSeq = lease.nextSeq;
    for (const chunk of sorted) {
      if (chunk.seq < nextSeq) continue;
      // After a stop the output between records is dropped (by the worker, or refused here): its numbers never come.
      if (chunk.seq > nextSeq && !(lease.stopReason && !isOutputData(chunk))) {
        throw new ConflictError(`output chunk ${chunk.seq} arrived before chunk ${nextSeq}; resend from ${nextSeq}`, SEQ_GAP);
      }
      nextSeq = chunk.seq + 1;
      const data = isOutputData(chunk) && chunk.data.length ? maskSecretBytes(typeof chunk.data === 'string' ? Buffer.from(chunk.data) : chunk.data, secrets) : null;
      if (data && isOutputData(chunk)) pieces.push({ stream: chunk.stream, data });
      fresh.push({ chunk, bytes: data?.length ?? 0 });
    }
    // A retried batch (every chunk already stored) changes nothing and writes nothing.
    if (nextSeq === lease.nextSeq) return { nextSeq };
    const written = pieces.length ? await this.output.append(job.id, job.attempt, job, pieces) : null;
    try {
      await this.store.transaction(async (tx) => {
        const current = await this.activeLease(tx, leaseId, workerId);
        // A stop recorded while the batch was written: not committed, so not kept.
        if (carriesOutput) this.outputOpen(current.lease, current.job);
        if (current.lease.nextSeq !== lease.nextSeq || current.job.attempt !== job.attempt) {
          throw new ConflictError(`output of lease ${leaseId} changed while this batch was written; resend from ${current.lease.nextSeq}`, SEQ_GAP);
        }
        let at = current.job;
        /** Output bytes since the last record: the store moves the stream past them before the next record. */
        let bytesBefore = 0;
        for (const { chunk, bytes } of fresh) {
          if (isOutputData(chunk)) {
            bytesBefore += bytes;
            continue;
          }
          // A record's offset counts the bytes before it; the counters saved at the end are the files' own.
          if (bytesBefore) at = await this.log.addOutput(tx, { ...at, outputTailBytes: at.outputTailBytes + bytesBefore }, bytesBefore, {});
          bytesBefore = 0;
          at = await this.recordCommand(tx, at, chunk.command);
        }
        if (written) await this.log.addOutput(tx, at, bytesBefore, written.counters);
        // The stream renews the lease where every coordinator sees it (the sweeping one may never hear this worker),
        // in the write the batch makes anyway: no statement of its own.
        const expiresAt = this.now() + this.config.leaseTtlMs;
        await tx.updateLease(leaseId, { nextSeq, expiresAt });
        tx.afterCommit(() => this.leaseClock.wrote(leaseId, expiresAt));
      });
    } catch (err) {
      // The bytes just written were never committed: their writer (and the live output it keeps in memory) goes,
      // so this node's readers read the files, where another node sharing them may write other bytes there.
      if (written) await this.output.finish(job.id, job.attempt);
      throw err;
    }
    if (written) {
      this.log.outputAdded(job.id);
      await written.committed();
    }
    return { nextSeq };
  }

  private recordCommand(tx: StoreOps, job: JobRecord, record: CommandRecordChunk['command']): Promise<JobRecord> {
    return record.phase === 'start' ? this.startCommand(tx, job, record.index) : this.endCommand(tx, job, record.index, record);
  }

  /** The old call (protocol v1 before command records); kept for one release. */
  async commandStart(leaseId: string, workerId: string, index: number): Promise<void> {
    await this.store.transaction(async (tx) => {
      await this.startCommand(tx, (await this.activeLease(tx, leaseId, workerId)).job, index);
    });
  }

  /** Records a command's start once (a repeat changes nothing); the job is running from its first command. */
  private async startCommand(tx: StoreOps, job: JobRecord, index: number): Promise<JobRecord> {
    const command = job.spec.commands[index];
    if (command === undefined) throw new ValidationError(`job ${job.id} has no command ${index}`);
    const existing = (await tx.commandsOf(job.id, job.attempt)).find((c) => c.index === index);
    if (existing) return job;
    const now = this.now();
    if (job.state === 'leased') job = await this.log.update(tx, job, { state: 'running', startedAt: job.startedAt ?? now });
    await tx.upsertCommand({ jobId: job.id, attempt: job.attempt, index, command, exitCode: null, signal: null, startedAt: now, durationMs: null });
    return this.log.append(tx, job, 'command', {
      attempt: job.attempt, index, phase: 'start', command, exitCode: null, signal: null, durationMs: null,
    });
  }

  /** The old call (protocol v1 before command records); kept for one release. */
  async commandEnd(
    leaseId: string,
    workerId: string,
    index: number,
    result: { exitCode: number | null; signal?: string | null | undefined; durationMs: number },
  ): Promise<void> {
    await this.store.transaction(async (tx) => {
      await this.endCommand(tx, (await this.activeLease(tx, leaseId, workerId)).job, index, result);
    });
  }

  /** Records a command's end once (a repeat changes nothing). */
  private async endCommand(
    tx: StoreOps,
    job: JobRecord,
    index: number,
    result: { exitCode: number | null; signal?: string | null | undefined; durationMs: number },
  ): Promise<JobRecord> {
    const record = (await tx.commandsOf(job.id, job.attempt)).find((c) => c.index === index);
    if (!record) throw new ConflictError(`command ${index} of job ${job.id} was never started`, 'command_not_started');
    if (record.durationMs !== null) return job;
    const signal = result.signal ?? null;
    await tx.upsertCommand({ ...record, exitCode: result.exitCode, signal, durationMs: result.durationMs });
    return this.log.append(tx, job, 'command', {
      attempt: job.attempt, index, phase: 'end', command: record.command, exitCode: result.exitCode, signal, durationMs: result.durationMs,
    });
  }

  /** Records the result of a lease once; a retry of the same completion answers with the job again. */
  async complete(
    leaseId: string,
    workerId: string,
    result: CompleteRequest,
    artifacts: { sha256: string; size: number } | null,
  ): Promise<Job> {
    await this.storeRestOfStream(leaseId, workerId, result);
    const job = await this.store.transaction((tx) => this.finishLease(tx, leaseId, workerId, result, artifacts));
    this.wakeWaiters();
    await this.output.finish(job.id, job.attempt);
    return this.jobs.view(this.store, job);
  }

  /**
   * The stream a completion carries (the output and records not sent yet), stored before the result: output is
   * written to files outside any transaction. A retried completion of a lease already completed stores nothing.
   */
  private async storeRestOfStream(leaseId: string, workerId: string, result: CompleteRequest): Promise<void> {
    if (!result.output?.length) return;
    const lease = await this.store.getLease(leaseId);
    if (lease?.workerId === workerId && lease.status === 'completed') return;
    try {
      await this.appendOutput(leaseId, workerId, result.output);
    } catch (err) {
      if (!(err instanceof ConflictError && err.code === OUTPUT_CLOSED)) throw err;
      // Stopped (cancel, timeout): the output it still carried is not kept; its command records and result are.
      const records = result.output.filter((chunk) => !isOutputData(chunk));
      if (records.length) await this.appendOutput(leaseId, workerId, records);
    }
  }

  /**
   * A completion that asks for the next job (`result.next`): the rest of the stream is stored, then the result
   * stored and the next job leased in one transaction; with nothing to take it waits like a claim. The answer is the
   * job's id and state, not its whole view. A retry answers the same: the job its lost answer handed out (under
   * the lease id derived from this one) if that lease is still active, and never a second job.
   */
  async completeAndClaim(
    leaseId: string,
    workerId: string,
    result: CompleteRequest,
    artifacts: { sha256: string; size: number } | null,
    signal: AbortSignal,
  ): Promise<CompleteResponse> {
    const nextLeaseId = nextLeaseIdAfter(leaseId);
    // A retry replaces a first try still waiting for a job: that answer has nobody left to go to.
    for (const waiter of this.waiters) if (waiter.after?.leaseId === leaseId) waiter.resolve(null);
    const { waitMs = 0, ...filter } = result.next ?? {};
    await this.storeRestOfStream(leaseId, workerId, result);
    const answer = await this.store.transaction(async (tx) => {
      const job = await this.finishLease(tx, leaseId, workerId, result, artifacts);
      const handedOut = await tx.getLease(nextLeaseId);
      if (handedOut) {
        const next = handedOut.status === 'active'
          ? this.assignment(await this.jobs.require(handedOut.jobId, tx), handedOut, await tx.activeLeasesOfWorker(workerId))
          : null;
        return { job, next, worker: null };
      }
      const worker = result.next ? await tx.getWorker(workerId) : undefined;
      // Held by an admin, or unhealthy: nothing now, and the agent's own claim waits.
      if (!worker || worker.adminState !== 'active' || this.problems.has(workerId)) return { job, next: null, worker: null };
      return { job, next: await this.claimFirstFitting(tx, worker, filter, nextLeaseId), worker };
    });
    this.seen(workerId);
    this.wakeWaiters();
    await this.output.finish(answer.job.id, answer.job.attempt);
    let next = answer.next;
    if (!next && answer.worker && waitMs > 0 && !signal.aborted) {
      next = await this.park(answer.worker, filter, waitMs, signal, { leaseId, nextLeaseId });
    }
    return { job: { id: answer.job.id, state: answer.job.state }, next };
  }

  /** Stores the result of a lease in `tx`, once; a retry finds the job as the first try left it. */
  private async finishLease(
    tx: StoreOps,
    leaseId: string,
    workerId: string,
    result: CompleteRequest,
    artifacts: { sha256: string; size: number } | null,
  ): Promise<JobRecord> {
    const lease = await tx.getLease(leaseId);
    if (lease && lease.workerId === workerId && lease.status === 'completed') {
      return this.jobs.require(lease.jobId, tx);
    }
    const found = await this.activeLease(tx, leaseId, workerId, lease ?? null);
    const now = this.now();
    await tx.updateLease(leaseId, { status: 'completed', endedAt: now });
    await this.fairShare.charge(tx, found.job, found.lease);
    this.leaseClock.ended(leaseId);
    const common = {
      finishedAt: now,
      // The worker timed the run on the clock its command durations use; the job's span follows it.
      ...(result.durationMs !== undefined ? { startedAt: now - result.durationMs } : {}),
      exitCode: result.exitCode ?? null,
      ...(artifacts ? { artifactsSha: artifacts.sha256, artifactsSize: artifacts.size } : {}),
    };
    switch (result.outcome) {
      case 'succeeded':
        return this.log.update(tx, found.job, { ...common, state: 'succeeded', reason: null });
      case 'failed': {
        // Every completed lease but a final one was a failed run that was retried.
        const retried = (await tx.leasesOfJob(found.job.id)).filter((l) => l.status === 'completed').length - 1;
        if (retried < (found.job.spec.retries ?? 0)) {
          return this.log.update(tx, found.job, {
            state: 'queued',
            reason: 'command_failed',
            exitCode: result.exitCode ?? null,
            queuedAt: now,
            workerId: null,
            leaseId: null,
            startedAt: null,
            timeoutAt: null,
          });
        }
        return this.log.update(tx, found.job, { ...common, state: 'failed', reason: 'command_failed' });
      }
      case 'cancelled':
        return this.log.update(tx, found.job, { ...common, state: 'cancelled', reason: 'cancelled' });
      case 'timed_out':
        return this.log.update(tx, found.job, { ...common, state: 'timed_out', reason: 'timed_out' });
      case 'error':
        return this.log.update(tx, found.job, {
          ...common,
          state: 'failed',
          reason: result.reason ?? 'worker_error',
          error: result.error ?? 'the worker could not run the job',
        });
    }
  }

  /**
   * A lease whose claim answer reached nobody (the claim ended as it was leased, or its connection was gone when
   * the answer was written): back to the queue at once, not counted as a failed attempt, instead of waiting a TTL.
   */
  async handBackUnanswered(leaseId: string): Promise<void> {
    await this.store.transaction(async (tx) => {
      const lease = await tx.getLease(leaseId);
      if (lease?.status === 'active') await this.endLease(tx, lease, 'released');
    });
    this.wakeWaiters();
  }

  async release(leaseId: string, workerId: string): Promise<void> {
    await this.store.transaction(async (tx) => {
      const { lease } = await this.activeLease(tx, leaseId, workerId);
      await this.endLease(tx, lease, 'released');
    });
    this.wakeWaiters();
  }

  /**
   * Ends a lease the worker did not complete: released (handed back, free) or expired (lost, counts as a
   * failed attempt). A job that was being cancelled or had timed out ends that way instead of requeueing.
   */
  private async endLease(tx: StoreOps, lease: LeaseRecord, how: 'released' | 'expired'): Promise<void> {
    const now = this.now();
    const job = await this.jobs.require(lease.jobId, tx);
    this.leaseClock.ended(lease.id);
    // A lost lease is not charged: its worker vanished, and it may yet come back and go on (revive).
    if (how === 'expired') this.leaseClock.expired(lease);
    else await this.fairShare.charge(tx, job, lease);
    const ended = { finishedAt: now, leaseId: null };
    if (job.cancelRequested) {
      await tx.updateLease(lease.id, { status: 'cancelled', endedAt: now });
      await this.log.update(tx, job, { ...ended, state: 'cancelled', reason: 'cancelled' });
      return;
    }
    if (lease.stopReason === 'timed_out') {
      await tx.updateLease(lease.id, { status: 'timed_out', endedAt: now });
      await this.log.update(tx, job, { ...ended, state: 'timed_out', reason: 'timed_out' });
      return;
    }
    await tx.updateLease(lease.id, { status: how, endedAt: now });
    const failures = job.failures + (how === 'expired' ? 1 : 0);
    if (failures >= job.spec.maxAttempts) {
      await this.log.update(tx, job, {
        ...ended,
        failures,
        state: 'failed',
        reason: 'lost',
        error: `lost ${failures} time(s): the worker stopped answering each time`,
      });
      return;
    }
    await this.log.update(tx, job, {
      state: 'queued',
      failures,
      queuedAt: now,
      workerId: null,
      leaseId: null,
      startedAt: null,
      timeoutAt: null,
    });
  }

  // ---- time passing ----

  /** The coordinator could not listen for `forMs`: that time does not count against any lease. */
  stalled(forMs: number): void {
    this.leaseClock.stalled();
    this.logger.warn('the coordinator stood still; every lease gets a fresh TTL to be renewed', { stalledMs: Math.round(forMs) });
  }

  /**
   * Expires leases whose worker has not been heard from for a lease TTL (of time this process was listening)
   * and enforces timeouts; run every second.
   */
  async sweep(): Promise<void> {
    let requeued = false;
    for (const job of await this.store.jobsInFlight()) {
      if (!job.leaseId || !job.workerId) continue;
      const leaseId = job.leaseId;
      const silentMs = this.leaseClock.leaseSilentMs({ id: leaseId, workerId: job.workerId });
      if (silentMs > this.config.leaseTtlMs) {
        await this.store.transaction(async (tx) => {
          const current = await tx.getLease(leaseId);
          if (!current || current.status !== 'active') return;
          // Renewed in the store by another coordinator's heartbeat: the worker is alive, just not talking to us.
          if (this.store.shared && this.leaseClock.changedElsewhere(leaseId, current.expiresAt, 'lease')) return;
          this.metrics.countLeaseExpiry();
          this.logger.warn('lease expired', {
            job: job.id, lease: leaseId, worker: job.workerId, reason: `no word from the worker for ${Math.round(silentMs / 1000)} s`,
          });
          await this.endLease(tx, current, 'expired');
          requeued = true;
        });
        continue;
      }
      if (job.timeoutAt === null) continue;
      const pastTimeoutMs = this.leaseClock.pastTimeoutMs(leaseId, job.timeoutAt);
      if (pastTimeoutMs < 0) continue;
      const toldToStop = await this.store.transaction(async (tx) => {
        const lease = await tx.getLease(leaseId);
        if (!lease || lease.status !== 'active') return false;
        let told = false;
        if (lease.stopReason !== 'timed_out' && !job.cancelRequested) {
          await tx.updateLease(lease.id, { stopReason: 'timed_out' });
          this.logger.info('job timeout reached: the worker is told to stop it', { job: job.id, worker: job.workerId, timeoutSec: job.spec.timeoutSec });
          told = true;
        }
        if (pastTimeoutMs >= this.config.timeoutGraceMs) {
          const now = this.now();
          const fresh = await this.jobs.require(job.id, tx);
          await tx.updateLease(lease.id, { status: 'timed_out', endedAt: now });
          await this.fairShare.charge(tx, fresh, lease);
          this.leaseClock.ended(lease.id);
          await this.log.update(tx, fresh, {
            state: fresh.cancelRequested ? 'cancelled' : 'timed_out',
            reason: fresh.cancelRequested ? 'cancelled' : 'timed_out',
            finishedAt: now,
            leaseId: null,
            error: fresh.cancelRequested ? null : 'the worker did not stop the job after its timeout',
          });
          requeued = true;
        }
        return told;
      });
      if (toldToStop) this.control.tell(job.workerId, { jobId: job.id, leaseId, reason: 'timed_out' });
    }
    if (requeued) this.wakeWaiters();
  }
}
