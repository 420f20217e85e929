// The worker's side of the pool: registration, heartbeats, long-poll claims, leases and their expiry.
// Knows nothing of HTTP; every state change is one store transaction.
import { randomUUID } from 'node:crypto';
import {
  isolationFits,
  API_PREFIX,
  type ClaimFilter,
  type ClaimResponse,
  type CompleteRequest,
  OUTPUT_CLOSED,
  type HeartbeatResponse,
  type Job,
  type LeaseDirective,
  type OutputAck,
  type OutputChunks,
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
import { maskSecrets } from '../../protocol/secrets';
import { AuthorizationError, ConflictError, NotFoundError, StaleLeaseError, UnsupportedProtocolError, ValidationError } from '../errors';
import type { Logger } from '../middleware/errors';
import type { JobRecord, LeaseRecord, Store, StoreOps, WorkerRecord } from '../store/types';
import type { FairShare } from './fair-share';
import type { JobLog } from './job-state';
import type { LeaseClock } from './lease-clock';
import { outputEnd, type OutputLog, type OutputPiece } from './output-log';
import { WORKER_TOKEN_PREFIX, type JobService } from './jobs';
import type { TokenService } from './tokens';
import type { WorkerAvailability } from './waiting';
import type { WorkerControl } from './worker-control';

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
  resolve: (result: ClaimResponse | null) => void;
}

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
  /** Each lease's output call in progress, so the next one for that lease waits for it. */
  private readonly outputCalls = new Map<string, Promise<unknown>>();
  /** Problems workers reported of themselves (kept in memory: each heartbeat says it again). */
  private readonly problems = new Map<string, string>();
  private takenHostLabels: Set<string> | undefined;
  private draining = false;
  private drainAgain = false;

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
    const taken = (this.takenHostLabels ??= new Set((await this.store.listWorkers()).map((w) => hostLabel(w.name))));
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

  workerState(worker: WorkerRecord, activeLeases: number): WorkerState {
    if (this.leaseClock.workerSilentMs(worker.id) > this.config.offlineAfterMs) return 'offline';
    if (this.problems.has(worker.id)) return 'unhealthy';
    if (worker.reportedState === 'suspended') return 'suspended';
    if (activeLeases > 0) return 'busy';
    return worker.reportedState === 'paused' ? 'paused' : 'idle';
  }

  async workerView(worker: WorkerRecord, tx: StoreOps = this.store): Promise<Worker> {
    const leases = await tx.activeLeasesOfWorker(worker.id);
    const currentJobs = [];
    for (const lease of leases) {
      const job = await tx.getJob(lease.jobId);
      if (job) currentJobs.push({ id: job.id, name: job.name, state: job.state });
    }
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
      state: this.workerState(worker, leases.length),
      ...(this.problems.has(worker.id) ? { problem: this.problems.get(worker.id)! } : {}),
      adminState: worker.adminState,
      registeredAt: new Date(worker.registeredAt).toISOString(),
      lastSeenAt: new Date(worker.lastSeenAt).toISOString(),
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

  async listWorkers(): Promise<Worker[]> {
    return Promise.all((await this.store.listWorkers()).map((w) => this.workerView(w)));
  }

  async heartbeat(workerId: string, state: ReportedWorkerState | undefined, problem?: string | null): Promise<HeartbeatResponse> {
    const now = this.now();
    this.leaseClock.heard(workerId);
    if (problem !== undefined) this.setProblem(workerId, problem);
    const leases = await this.store.transaction(async (tx) => {
      await tx.updateWorker(workerId, { lastSeenAt: now, ...(state ? { reportedState: state } : {}) });
      for (const leaseId of this.leaseClock.takeExpired(workerId)) {
        const lease = await tx.getLease(leaseId);
        if (lease) await this.revive(tx, lease);
      }
      await tx.renewLeases(workerId, now + this.config.leaseTtlMs);
      return tx.activeLeasesOfWorker(workerId);
    });
    return {
      stop: this.directives(leases),
      leases: leases.map((l) => ({ leaseId: l.id, jobId: l.jobId, expiresAt: new Date(l.expiresAt).toISOString() })),
      heartbeatIntervalSec: this.config.heartbeatIntervalSec,
    };
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
  async claim(
    workerId: string,
    waitMs: number,
    signal: AbortSignal,
    filter: ClaimFilter = {},
  ): Promise<ClaimResponse | null> {
    const worker = await this.requireWorker(workerId);
    // Registered before this coordinator dropped its protocol (an upgrade): told why, and given nothing.
    requireProtocol(worker.protocolVersion);
    // An unhealthy worker would fail what it took: it is handed nothing until it reports the problem gone.
    if (this.problems.has(workerId)) return null;
    if (worker.adminState !== 'active') {
      // Held by an admin: answer at the end of the wait, so the agent does not ask again at once.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      return null;
    }
    const immediate = await this.claimFirstFitting(worker, filter);
    if (immediate || waitMs === 0 || signal.aborted) return immediate;
    return new Promise((resolve) => {
      const waiter: Waiter = {
        worker,
        filter,
        fits: fitsWorker(worker, filter),
        resolve: (result) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.waiters.delete(waiter);
          resolve(result);
        },
      };
      const onAbort = () => waiter.resolve(null);
      const timer = setTimeout(onAbort, waitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  get waitingClaims(): number {
    return this.waiters.size;
  }

  /** Something became claimable: hand it to waiting workers, first come first served. */
  wakeWaiters(): void {
    if (this.waiters.size === 0) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    void (async () => {
      try {
        do {
          this.drainAgain = false;
          await this.drainOnce();
        } while (this.drainAgain);
      } finally {
        this.draining = false;
      }
    })();
  }

  /** Hands each waiting worker, first come first served, the best queued job it fits. */
  private async drainOnce(): Promise<void> {
    // Workers whose slots turned out full (a claim answered meanwhile) wait for the next wake.
    const full = new Set<Waiter>();
    for (;;) {
      const candidates = [...this.waiters].filter((w) => !full.has(w) && !this.problems.has(w.worker.id));
      if (candidates.length === 0) return;
      const heads = await this.store.queueHeads();
      let progressed = false;
      for (const waiter of candidates) {
        const { onlySubmitters } = waiter.filter;
        const job = await this.fairShare.best(this.store, (onlySubmitters ? await this.store.queueHeads(onlySubmitters) : heads).filter(waiter.fits));
        if (!job) continue;
        const result = await this.store.transaction((tx) => this.leaseJob(tx, waiter.worker, job.id));
        if (result === 'no_free_slot') full.add(waiter);
        else if (result !== 'job_taken') waiter.resolve(result);
        // The heads changed (or were stale): read them again.
        progressed = true;
        break;
      }
      if (!progressed) return;
    }
  }

  private async claimFirstFitting(worker: WorkerRecord, filter: ClaimFilter): Promise<ClaimResponse | null> {
    const fits = fitsWorker(worker, filter);
    this.leaseClock.heard(worker.id);
    return this.store.transaction(async (tx) => {
      await tx.updateWorker(worker.id, { lastSeenAt: this.now() });
      const active = await tx.activeLeasesOfWorker(worker.id);
      if (active.length >= worker.slots) return null;
      const job = await this.fairShare.best(tx, (await tx.queueHeads(filter.onlySubmitters)).filter(fits));
      if (!job) return null;
      const result = await this.leaseJob(tx, worker, job.id);
      return typeof result === 'string' ? null : result;
    });
  }

  private async leaseJob(
    tx: StoreOps,
    worker: WorkerRecord,
    jobId: string,
  ): Promise<ClaimResponse | 'job_taken' | 'no_free_slot'> {
    const job = await tx.getJob(jobId);
    if (!job || job.state !== 'queued') return 'job_taken';
    const active = await tx.activeLeasesOfWorker(worker.id);
    if (active.length >= worker.slots) return 'no_free_slot';
    const now = this.now();
    const lease: LeaseRecord = {
      id: `lse_${randomUUID().replace(/-/g, '')}`,
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
    const { secrets = {}, ...spec } = leased.spec;
    return {
      job: {
        id: leased.id,
        name: leased.name,
        attempt: leased.attempt,
        spec,
        secrets,
        bundle: leased.bundleSha ? { sha256: leased.bundleSha, size: leased.bundleSize ?? 0 } : null,
      },
      lease: { id: lease.id, expiresAt: new Date(lease.expiresAt).toISOString(), ttlSec: this.config.leaseTtlMs / 1000 },
      bundleUrl: leased.bundleSha ? `${API_PREFIX}/leases/${lease.id}/bundle` : null,
      stop: this.directives(active),
    };
  }

  // ---- lease calls ----

  /** The lease, if it is this worker's and still active; otherwise the error that explains why not. */
  private async activeLease(tx: StoreOps, leaseId: string, workerId: string): Promise<{ lease: LeaseRecord; job: JobRecord }> {
    let lease = await tx.getLease(leaseId);
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
   * Appends output to the attempt's log files, then commits how much there is (the job's counters and stream
   * end, the lease's next sequence number) in one transaction: the acknowledgement follows both, so a byte
   * acknowledged is never lost, and a retried batch (sequence numbers below `nextSeq`) is never written twice.
   * One call per lease at a time: a retry that overtakes a slow first try waits for it and finds its chunks stored.
   */
  async appendOutput(leaseId: string, workerId: string, chunks: OutputChunks['chunks']): Promise<OutputAck> {
    const before = this.outputCalls.get(leaseId) ?? Promise.resolve();
    const call = before.then(() => this.appendOutputNow(leaseId, workerId, chunks));
    const settled = call.catch(() => undefined);
    this.outputCalls.set(leaseId, settled);
    void settled.then(() => {
      if (this.outputCalls.get(leaseId) === settled) this.outputCalls.delete(leaseId);
    });
    return call;
  }

  /** Once a stop (cancel, timeout) is recorded the job's output is closed: what the worker still had on its way is not kept. */
  private outputOpen(lease: LeaseRecord, job: JobRecord): void {
    if (!lease.stopReason) return;
    const why = lease.stopReason === 'cancelled' ? 'cancelled' : 'stopped at its timeout';
    throw new ConflictError(`job ${job.id} was ${why}; no more output is taken for it`, OUTPUT_CLOSED);
  }

  private async appendOutputNow(leaseId: string, workerId: string, chunks: OutputChunks['chunks']): Promise<OutputAck> {
    const { lease, job } = await this.store.transaction((tx) => this.activeLease(tx, leaseId, workerId));
    this.outputOpen(lease, job);
    // Masked again here: an agent that did not mask (old, or not ours) must not land a secret in the log.
    const secrets = Object.values(job.spec.secrets ?? {});
    const pieces: OutputPiece[] = [];
    let nextSeq = lease.nextSeq;
    for (const chunk of [...chunks].sort((a, b) => a.seq - b.seq)) {
      if (chunk.seq < nextSeq) continue;
      if (chunk.seq > nextSeq) {
        throw new ConflictError(`output chunk ${chunk.seq} arrived before chunk ${nextSeq}; resend from ${nextSeq}`, 'seq_gap');
      }
      nextSeq++;
      if (chunk.data.length) pieces.push({ stream: chunk.stream, data: Buffer.from(maskSecrets(chunk.data, secrets)) });
    }
    // A retried batch (every chunk already stored) changes nothing and writes nothing.
    if (nextSeq === lease.nextSeq) return { nextSeq };
    const written = await this.output.append(job.id, job.attempt, job, pieces);
    const added = outputEnd(written.counters) - outputEnd(job);
    await this.store.transaction(async (tx) => {
      const current = await this.activeLease(tx, leaseId, workerId);
      // A stop recorded while the batch was written: not committed, so not kept.
      this.outputOpen(current.lease, current.job);
      if (current.lease.nextSeq !== lease.nextSeq || current.job.attempt !== job.attempt) {
        throw new ConflictError(`output of lease ${leaseId} changed while this batch was written; resend from ${current.lease.nextSeq}`, 'seq_gap');
      }
      await tx.updateJob(job.id, { ...written.counters, lastEventId: current.job.lastEventId + added });
      await tx.updateLease(leaseId, { nextSeq });
    });
    this.log.outputAdded(job.id);
    await written.committed();
    return { nextSeq };
  }

  async commandStart(leaseId: string, workerId: string, index: number): Promise<void> {
    await this.store.transaction(async (tx) => {
      let { job } = await this.activeLease(tx, leaseId, workerId);
      const command = job.spec.commands[index];
      if (command === undefined) throw new ValidationError(`job ${job.id} has no command ${index}`);
      const existing = (await tx.commandsOf(job.id, job.attempt)).find((c) => c.index === index);
      if (existing) return;
      const now = this.now();
      if (job.state === 'leased') job = await this.log.update(tx, job, { state: 'running', startedAt: job.startedAt ?? now });
      await tx.upsertCommand({ jobId: job.id, attempt: job.attempt, index, command, exitCode: null, signal: null, startedAt: now, durationMs: null });
      await this.log.append(tx, job, 'command', {
        attempt: job.attempt, index, phase: 'start', command, exitCode: null, signal: null, durationMs: null,
      });
    });
  }

  async commandEnd(
    leaseId: string,
    workerId: string,
    index: number,
    result: { exitCode: number | null; signal?: string | null | undefined; durationMs: number },
  ): Promise<void> {
    await this.store.transaction(async (tx) => {
      const { job } = await this.activeLease(tx, leaseId, workerId);
      const record = (await tx.commandsOf(job.id, job.attempt)).find((c) => c.index === index);
      if (!record) throw new ConflictError(`command ${index} of job ${job.id} was never started`, 'command_not_started');
      if (record.durationMs !== null) return;
      const signal = result.signal ?? null;
      await tx.upsertCommand({ ...record, exitCode: result.exitCode, signal, durationMs: result.durationMs });
      await this.log.append(tx, job, 'command', {
        attempt: job.attempt, index, phase: 'end', command: record.command, exitCode: result.exitCode, signal, durationMs: result.durationMs,
      });
    });
  }

  /** Records the result of a lease once; a retry of the same completion answers with the job again. */
  async complete(
    leaseId: string,
    workerId: string,
    result: CompleteRequest,
    artifacts: { sha256: string; size: number } | null,
  ): Promise<Job> {
    const job = await this.store.transaction(async (tx) => {
      const lease = await tx.getLease(leaseId);
      if (lease && lease.workerId === workerId && lease.status === 'completed') {
        return this.jobs.require(lease.jobId, tx);
      }
      const found = await this.activeLease(tx, leaseId, workerId);
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
    });
    this.wakeWaiters();
    await this.output.finish(job.id, job.attempt);
    return this.jobs.view(this.store, job);
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
