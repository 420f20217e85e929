// Submitting, reading and cancelling jobs: the submitter's side of the pool. Knows nothing of HTTP.
import { randomBytes } from 'node:crypto';
import {
  isTerminal,
  type Job,
  type JobList,
  type JobSpec,
  type JobState,
  type ResolvedJobSpec,
} from '../../protocol/api';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import type { JobRecord, LeaseRecord, Store, StoreOps } from '../store/types';
import type { JobLog } from './job-state';
import { waitingReason, type WorkerAvailability } from './waiting';
import type { WorkerControl } from './worker-control';

export interface JobServiceConfig {
  defaultTimeoutSec: number;
  defaultMaxAttempts: number;
  maxOutputBytes: number;
}

/** Output events per store read of a log: each is at most an output chunk (64 KiB), so a read is at most 512 KiB. */
const LOG_PAGE_EVENTS = 8;

export const newJobId = (now: number): string => `job_${now.toString(36)}${randomBytes(5).toString('hex')}`;

/** The token a worker joined with is kept (revoked) after it leaves the pool; its name is the worker's. */
export const WORKER_TOKEN_PREFIX = 'worker:';

/** The name of a worker that has left the pool, from its token; its id when even that is gone. */
async function formerWorkerName(tx: StoreOps, workerId: string): Promise<string> {
  const token = (await tx.listTokens()).find((t) => t.workerId === workerId && t.name.startsWith(WORKER_TOKEN_PREFIX));
  return token ? token.name.slice(WORKER_TOKEN_PREFIX.length) : workerId;
}

export class JobService {
  constructor(
    private readonly store: Store,
    private readonly log: JobLog,
    private readonly now: () => number,
    private readonly config: JobServiceConfig,
    private readonly onQueued: () => void,
    /** What the pool's workers offer now: a queued job says why none of them took it. */
    private readonly availability: () => Promise<WorkerAvailability[]>,
    /** Tells a worker at once that a job it runs was cancelled. */
    private readonly control: WorkerControl,
  ) {}

  resolveSpec(spec: JobSpec): ResolvedJobSpec {
    return {
      commands: spec.commands,
      name: spec.name?.trim() || spec.commands[0]!.slice(0, 80),
      shell: spec.shell ?? null,
      env: spec.env ?? {},
      timeoutSec: spec.timeoutSec ?? this.config.defaultTimeoutSec,
      labels: [...new Set(spec.labels ?? [])],
      priority: spec.priority ?? 0,
      maxAttempts: spec.maxAttempts ?? this.config.defaultMaxAttempts,
      retries: spec.retries ?? 0,
      outputs: spec.outputs ?? [],
      continueOnError: spec.continueOnError ?? false,
      network: spec.network ?? false,
      requireSandbox: spec.requireSandbox ?? false,
      limits: spec.limits ?? {},
    };
  }

  async submit(spec: JobSpec, submittedBy: string, bundle: { sha256: string; size: number } | null): Promise<Job> {
    const now = this.now();
    const resolved = this.resolveSpec(spec);
    const job = await this.store.transaction(async (tx) => {
      const created = await tx.insertJob({
        id: newJobId(now),
        name: resolved.name,
        state: 'queued',
        reason: null,
        error: null,
        exitCode: null,
        spec: spec.secrets && Object.keys(spec.secrets).length ? { ...resolved, secrets: spec.secrets } : resolved,
        bundleSha: bundle?.sha256 ?? null,
        bundleSize: bundle?.size ?? null,
        submittedBy,
        createdAt: now,
        queuedAt: now,
        startedAt: null,
        finishedAt: null,
        attempt: 0,
        failures: 0,
        workerId: null,
        leaseId: null,
        cancelRequested: false,
        artifactsSha: null,
        artifactsSize: null,
        timeoutAt: null,
        outputHeadBytes: 0,
        outputTailBytes: 0,
        outputDroppedBytes: 0,
        lastEventId: 0,
      });
      return this.log.append(tx, created, 'state', {
        state: 'queued',
        attempt: 0,
        reason: null,
        exitCode: null,
        workerId: null,
        workerName: null,
        error: null,
      });
    });
    this.onQueued();
    return this.view(this.store, job);
  }

  /** A new job with the same spec and ZIP, owned by the original's owner. */
  async rerun(original: JobRecord): Promise<Job> {
    const spec: JobSpec = { ...original.spec, shell: original.spec.shell ?? undefined };
    const bundle = original.bundleSha ? { sha256: original.bundleSha, size: original.bundleSize ?? 0 } : null;
    return this.submit(spec, original.submittedBy, bundle);
  }

  async require(id: string, tx: StoreOps = this.store): Promise<JobRecord> {
    const job = await tx.getJob(id);
    if (!job) throw new NotFoundError(`no job with id "${id}"`);
    return job;
  }

  async list(query: { states?: JobState[]; limit: number; cursor?: string; submittedBy?: string }): Promise<JobList> {
    let beforeSeq: number | undefined;
    if (query.cursor !== undefined) {
      beforeSeq = Number(query.cursor);
      if (!Number.isSafeInteger(beforeSeq) || beforeSeq < 0) {
        throw new ValidationError('cursor is not one this server gave out; pass nextCursor from the previous page');
      }
    }
    const records = await this.store.listJobs({
      ...(query.states ? { states: query.states } : {}),
      ...(query.submittedBy !== undefined ? { submittedBy: query.submittedBy } : {}),
      ...(beforeSeq !== undefined ? { beforeSeq } : {}),
      limit: query.limit + 1,
    });
    const page = records.slice(0, query.limit);
    const jobs = await Promise.all(page.map((r) => this.view(this.store, r)));
    return { jobs, nextCursor: records.length > query.limit ? String(page.at(-1)!.seq) : null };
  }

  /** A queued job ends at once; a leased one is told to its worker and ends when the worker confirms. */
  async cancel(id: string): Promise<Job> {
    let stopped: LeaseRecord | undefined;
    const job = await this.store.transaction(async (tx) => {
      const job = await this.require(id, tx);
      if (isTerminal(job.state)) {
        throw new ConflictError(`job ${id} already ended (${job.state}); there is nothing to cancel`, 'job_finished');
      }
      if (job.state === 'queued') {
        return this.log.update(tx, job, { state: 'cancelled', reason: 'cancelled', finishedAt: this.now() });
      }
      if (job.leaseId) {
        const lease = await tx.getLease(job.leaseId);
        if (lease && !lease.stopReason) {
          await tx.updateLease(lease.id, { stopReason: 'cancelled' });
          stopped = lease;
        }
      }
      return this.log.update(tx, job, { cancelRequested: true });
    });
    if (stopped) this.control.tell(stopped.workerId, { jobId: job.id, leaseId: stopped.id, reason: 'cancelled' });
    return this.view(this.store, job);
  }

  /** The output of the latest attempt: its beginning, one marker where the middle was dropped, its end. */
  async logText(id: string): Promise<string> {
    let text = '';
    for await (const piece of this.logPieces(await this.require(id))) text += piece;
    return text;
  }

  /** The job's output, read from the store a page at a time: a 16 MiB log is never held whole. */
  async *logPieces(job: JobRecord): AsyncGenerator<string> {
    yield* this.outputPart(job, 'head');
    if (job.outputDroppedBytes) {
      yield `\n[cmd-executor: ${job.outputDroppedBytes} bytes of output dropped here: over the ${this.config.maxOutputBytes}-byte cap]\n`;
    }
    yield* this.outputPart(job, 'tail');
  }

  private async *outputPart(job: JobRecord, part: 'head' | 'tail'): AsyncGenerator<string> {
    for (let after = 0; ; ) {
      const page = await this.store.outputOf(job.id, job.attempt, part, after, LOG_PAGE_EVENTS);
      if (page.length === 0) return;
      yield page.map((e) => (e.data as { text: string }).text).join('');
      after = page.at(-1)!.id;
    }
  }

  async view(tx: StoreOps, job: JobRecord): Promise<Job> {
    const [leases, commands, worker, workers] = await Promise.all([
      tx.leasesOfJob(job.id),
      tx.commandsOf(job.id, job.attempt),
      job.workerId ? tx.getWorker(job.workerId) : undefined,
      job.state === 'queued' ? this.availability() : undefined,
    ]);
    const names = new Map<string, string>();
    for (const lease of leases) {
      if (!names.has(lease.workerId)) names.set(lease.workerId, (await tx.getWorker(lease.workerId))?.name ?? (await formerWorkerName(tx, lease.workerId)));
    }
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    const { secrets, ...spec } = job.spec;
    return {
      id: job.id,
      name: job.name,
      state: job.state,
      reason: job.reason,
      error: job.error,
      exitCode: job.exitCode,
      spec,
      secretNames: Object.keys(secrets ?? {}),
      bundle: job.bundleSha ? { sha256: job.bundleSha, size: job.bundleSize ?? 0 } : null,
      submittedBy: job.submittedBy,
      createdAt: new Date(job.createdAt).toISOString(),
      startedAt: iso(job.startedAt),
      finishedAt: iso(job.finishedAt),
      attempt: job.attempt,
      workerId: job.workerId,
      workerName: worker?.name ?? (job.workerId ? (names.get(job.workerId) ?? null) : null),
      cancelRequested: job.cancelRequested,
      hasArtifacts: job.artifactsSha !== null,
      outputBytes: job.outputHeadBytes + job.outputTailBytes,
      outputTruncated: job.outputDroppedBytes > 0,
      commands: commands.map((c) => ({
        index: c.index,
        command: c.command,
        exitCode: c.exitCode,
        signal: c.signal,
        startedAt: new Date(c.startedAt).toISOString(),
        durationMs: c.durationMs,
      })),
      attempts: leases.map((l) => ({
        attempt: l.attempt,
        leaseId: l.id,
        workerId: l.workerId,
        workerName: names.get(l.workerId) ?? l.workerId,
        leasedAt: new Date(l.leasedAt).toISOString(),
        endedAt: iso(l.endedAt),
        outcome: l.status,
      })),
      waitingReason: workers ? waitingReason(job.spec, workers) : null,
    };
  }
}
