// Submitting, reading and cancelling jobs: the submitter's side of the pool. Knows nothing of HTTP.
import { createHash, randomBytes } from 'node:crypto';
import {
  isTerminal,
  IDEMPOTENCY_KEY_HEADER,
  LIMITS,
  MATRIX_ENV_PREFIX,
  matrixCells,
  type Job,
  type JobGroup,
  type JobList,
  type JobSpec,
  type JobState,
  type ResolvedJobSpec,
  type Submitted,
} from '../../protocol/api';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../errors';
import type { JobRecord, LeaseRecord, Store, StoreOps, SubmissionKeyRecord } from '../store/types';
import type { JobLog } from './job-state';
import { outputEnd, type OutputLog } from './output-log';
import { waitingReason, type WorkerAvailability } from './waiting';
import type { WorkerControl } from './worker-control';

export interface JobServiceConfig {
  defaultTimeoutSec: number;
  defaultMaxAttempts: number;
  maxOutputBytes: number;
}

/** Output bytes per read of a log: a 16 MiB log is never held whole. */
const LOG_PAGE_BYTES = 1024 * 1024;

export const newJobId = (now: number): string => `job_${now.toString(36)}${randomBytes(5).toString('hex')}`;
const newGroupId = (now: number): string => `grp_${now.toString(36)}${randomBytes(5).toString('hex')}`;

/** A matrix job's name: the submission's and its values, as CI matrices show them ("test (n=2, os=linux)"). */
const cellName = (name: string, cell: Record<string, string>) =>
  `${name} (${Object.entries(cell)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ')})`;

/** JSON with each object's keys sorted: one text for one value, however its sender ordered it. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );

/** What an idempotency key is checked against: a resend must be the same spec with the same ZIP. */
const requestHash = (spec: JobSpec, bundle: { sha256: string } | null) =>
  createHash('sha256').update(canonicalJson({ spec, bundle: bundle?.sha256 ?? null })).digest('hex');

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
    private readonly output: OutputLog,
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

  /** One job (a spec with a matrix is submitOnce's). */
  async submit(spec: JobSpec, submittedBy: string, bundle: { sha256: string; size: number } | null): Promise<Job> {
    const { created } = await this.insertJobs(spec, [null], submittedBy, bundle, null);
    return this.view(this.store, created![0]!);
  }

  /**
   * A submit as POST /jobs takes it: one job, or with a matrix one per combination of its values in one group
   * (all queued or none). With a `key` (Idempotency-Key) given again by the same submitter within the day, the
   * answer of that key's submit (`replayed`), wherever it was made; the key with another request is refused.
   */
  async submitOnce(
    spec: JobSpec,
    submittedBy: string,
    bundle: { sha256: string; size: number } | null,
    key?: string,
  ): Promise<{ submitted: Submitted; replayed: boolean }> {
    const groupId = spec.matrix ? newGroupId(this.now()) : null;
    const cells = spec.matrix ? matrixCells(spec.matrix) : [null];
    const { created, prior } = await this.insertJobs(spec, cells, submittedBy, bundle, groupId, key);
    const answer = async (jobId: string | null, group: string | null): Promise<Submitted> =>
      group ? { group: await this.group(group) } : { job: await this.view(this.store, await this.require(jobId!)) };
    if (prior) return { submitted: await answer(prior.jobId, prior.groupId), replayed: true };
    return { submitted: groupId ? await answer(null, groupId) : { job: await this.view(this.store, created[0]!) }, replayed: false };
  }

  private async insertJobs(
    spec: JobSpec,
    cells: (Record<string, string> | null)[],
    submittedBy: string,
    bundle: { sha256: string; size: number } | null,
    groupId: string | null,
    key?: string,
  ): Promise<{ created: JobRecord[]; prior?: undefined } | { prior: SubmissionKeyRecord; created?: undefined }> {
    const now = this.now();
    const resolved = this.resolveSpec(spec);
    const ids = cells.map(() => newJobId(now));
    const hash = key === undefined ? '' : requestHash(spec, bundle);
    const inserted = await this.store.transaction(async (tx) => {
      if (key !== undefined) {
        const record = { submittedBy, key, requestHash: hash, jobId: groupId ? null : ids[0]!, groupId, createdAt: now };
        const prior = await tx.claimSubmissionKey(record, now - LIMITS.idempotencyKeyTtlSec * 1000);
        if (prior && prior.requestHash !== hash) {
          throw new UnprocessableError(
            `the ${IDEMPOTENCY_KEY_HEADER} "${key}" was already used for another submit (${prior.groupId ? `group ${prior.groupId}` : `job ${prior.jobId}`}) with a different spec or ZIP; send a new key for a new submit`,
            'idempotency_key_reused',
          );
        }
        if (prior) return { prior };
      }
      const created: JobRecord[] = [];
      for (const [index, cell] of cells.entries()) {
        const cellSpec: ResolvedJobSpec = cell
          ? {
              ...resolved,
              name: cellName(resolved.name, cell),
              env: { ...resolved.env, ...Object.fromEntries(Object.entries(cell).map(([key, value]) => [`${MATRIX_ENV_PREFIX}${key}`, value])) },
              matrix: cell,
            }
          : resolved;
        const record = await tx.insertJob({
          id: ids[index]!,
          name: cellSpec.name,
          state: 'queued',
          reason: null,
          error: null,
          exitCode: null,
          spec: spec.secrets && Object.keys(spec.secrets).length ? { ...cellSpec, secrets: spec.secrets } : cellSpec,
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
          groupId,
        });
        created.push(
          await this.log.append(tx, record, 'state', {
            state: 'queued',
            attempt: 0,
            reason: null,
            exitCode: null,
            workerId: null,
            workerName: null,
            error: null,
          }),
        );
      }
      return { created };
    });
    if (inserted.created) this.onQueued();
    return inserted;
  }

  /** A group's jobs and their summary; `require`d like a job (404 when no job of it is left). */
  async group(id: string): Promise<JobGroup> {
    const records = (await this.store.listJobs({ groupId: id, limit: LIMITS.matrixJobs })).reverse();
    const first = records[0];
    if (!first) throw new NotFoundError(`no job group with id "${id}"`);
    const jobs = await this.views(records);
    const counts: Partial<Record<JobState, number>> = {};
    for (const job of jobs) counts[job.state] = (counts[job.state] ?? 0) + 1;
    // A Map: a matrix name may be any identifier, `constructor` and `toString` among them.
    const values = new Map<string, Set<string>>();
    for (const job of jobs) {
      for (const [key, value] of Object.entries(job.spec.matrix ?? {})) {
        values.set(key, (values.get(key) ?? new Set()).add(value));
      }
    }
    const matrix = Object.fromEntries([...values].map(([key, each]) => [key, [...each]]));
    const over = jobs.every((job) => isTerminal(job.state));
    const state: JobGroup['state'] = !over
      ? 'active'
      : jobs.every((job) => job.state === 'succeeded')
        ? 'succeeded'
        : jobs.some((job) => job.state === 'failed' || job.state === 'timed_out')
          ? 'failed'
          : 'cancelled';
    return {
      id,
      name: first.name.replace(/ \([^()]*\)$/, ''),
      submittedBy: first.submittedBy,
      createdAt: new Date(first.createdAt).toISOString(),
      matrix,
      total: jobs.length,
      counts,
      state,
      jobs,
    };
  }

  /** Cancels each of the group's jobs that has not ended. */
  async cancelGroup(group: JobGroup): Promise<JobGroup> {
    for (const job of group.jobs) {
      if (isTerminal(job.state)) continue;
      await this.cancel(job.id).catch((err: unknown) => {
        // It ended between the read and the cancel: nothing left to do for it.
        if (!(err instanceof ConflictError)) throw err;
      });
    }
    return this.group(group.id);
  }

  /** A new job with the same spec and ZIP, owned by the original's owner. */
  async rerun(original: JobRecord): Promise<Job> {
    // A matrix job runs again alone, with its values still in its env and name.
    const { matrix: _cell, ...stored } = original.spec;
    const spec: JobSpec = { ...stored, shell: original.spec.shell ?? undefined };
    const bundle = original.bundleSha ? { sha256: original.bundleSha, size: original.bundleSize ?? 0 } : null;
    return this.submit(spec, original.submittedBy, bundle);
  }

  async require(id: string, tx: StoreOps = this.store): Promise<JobRecord> {
    const job = await tx.getJob(id);
    if (!job) throw new NotFoundError(`no job with id "${id}"`);
    return job;
  }

  async list(query: { states?: JobState[]; limit: number; cursor?: string; submittedBy?: string; groupId?: string }): Promise<JobList> {
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
      ...(query.groupId !== undefined ? { groupId: query.groupId } : {}),
      ...(beforeSeq !== undefined ? { beforeSeq } : {}),
      limit: query.limit + 1,
    });
    const page = records.slice(0, query.limit);
    const jobs = await this.views(page);
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
    const pieces: Buffer[] = [];
    for await (const piece of this.logPieces(await this.require(id))) pieces.push(Buffer.from(piece));
    return Buffer.concat(pieces).toString('utf8');
  }

  /** The latest attempt's output as it was written (bytes, both streams), read from its files a page at a time. */
  async *logPieces(job: JobRecord): AsyncGenerator<Buffer | string> {
    const end = outputEnd(job);
    for (let at = 0; at < end; ) {
      for (const read of await this.output.read(job.id, job.attempt, at, end, LOG_PAGE_BYTES)) {
        if ('gap' in read) {
          yield `\n[cmd-executor: ${read.gap} bytes of output dropped here: over the ${this.config.maxOutputBytes}-byte cap]\n`;
          at += read.gap;
        } else {
          yield read.data;
          at += read.data.length;
        }
      }
    }
  }

  /** Views of many jobs: the pool's availability is read once for all their waiting reasons, not once each. */
  private async views(records: JobRecord[]): Promise<Job[]> {
    const workers = records.some((r) => r.state === 'queued') ? await this.availability() : undefined;
    return Promise.all(records.map((r) => this.view(this.store, r, workers)));
  }

  /** `workers`: the pool's availability when the caller already read it (a page of jobs). */
  async view(tx: StoreOps, job: JobRecord, workers?: WorkerAvailability[]): Promise<Job> {
    // Two queries (attempts with their workers' names, commands); a queued job's waiting reason reads the pool too.
    const [leases, commands, available] = await Promise.all([
      tx.attemptsOf(job.id),
      tx.commandsOf(job.id, job.attempt),
      job.state === 'queued' ? (workers ?? this.availability()) : undefined,
    ]);
    const names = new Map<string, string>();
    for (const lease of leases) {
      if (!names.has(lease.workerId)) names.set(lease.workerId, lease.workerName ?? (await formerWorkerName(tx, lease.workerId)));
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
      workerName: job.workerId ? (names.get(job.workerId) ?? null) : null,
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
      waitingReason: available ? waitingReason(job.spec, available) : null,
      groupId: job.groupId,
    };
  }
}
