// The job's state machine and its event log, written together in one transaction: whatever changes a job
// also appends the event that SSE subscribers replay. Output is not in the log (it is in the attempt's files,
// output-log.ts) but shares its numbering: a job's stream is its events and its output bytes in order, and
// `lastEventId` is the stream's end. An event's id is the position after it; n output bytes advance the end by n.
// The store allocates the positions (appendToStream): nothing here computes an id.
import type { JobEventType, JobState, StateEvent } from '../../protocol/api';
import type { Logger } from '../middleware/errors';
import type { EventHub } from './event-hub';
import { outputEnd } from './output-log';
import type { JobFields, JobRecord, StoreOps } from '../store/types';

export type JobPatch = JobFields;

const ALLOWED: Record<JobState, readonly JobState[]> = {
  // queued → running: a worker whose lease expired was heard again before anyone else took the job.
  queued: ['leased', 'running', 'cancelled', 'failed'],
  leased: ['running', 'suspended', 'queued', 'succeeded', 'failed', 'cancelled', 'timed_out'],
  running: ['suspended', 'queued', 'succeeded', 'failed', 'cancelled', 'timed_out'],
  suspended: ['running', 'queued', 'succeeded', 'failed', 'cancelled', 'timed_out'],
  succeeded: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

type NewEvent = [tx: StoreOps, job: JobRecord, type: Exclude<JobEventType, 'output' | 'truncated'>, data: unknown];

/** Worker names remembered at most (names never change: a worker is named once, when it registers). */
const KEPT_WORKER_NAMES = 50_000;

export class JobLog {
  /** Each worker's name, read once: a state event names its worker, and a job changes state several times a run. */
  private readonly workerNames = new Map<string, string>();

  constructor(
    private readonly hub: EventHub,
    private readonly logger: Logger,
  ) {}

  /** Appends one event to the job's log and returns the job with its new last event id. */
  append(...[tx, job, type, data]: NewEvent): Promise<JobRecord> {
    return this.record(tx, job, type, data, {});
  }

  /**
   * Appends the event and saves `patch` with it (one step in the store, which gives the event its id). The event
   * marks where it happened in the attempt's output (a command's start and end: its boundaries).
   */
  private async record(...[tx, job, type, data, patch]: [...NewEvent, patch: JobPatch]): Promise<JobRecord> {
    const next: JobRecord = { ...job, ...patch };
    const { lastEventId } = await tx.appendToStream(job.id, [{ type, attempt: next.attempt, data, outputOffset: outputEnd(next) }], patch);
    // Subscribers read the store when woken: not before the event is committed (another coordinator's pool).
    tx.afterCommit(() => this.hub.notify(job.id));
    if (type === 'state') {
      const state = data as StateEvent;
      this.logger.info(`job ${state.state}`, {
        job: job.id, attempt: state.attempt, worker: state.workerName ?? state.workerId ?? undefined,
        reason: state.reason ?? undefined, exitCode: state.exitCode ?? undefined, error: state.error ?? undefined,
      });
    }
    return { ...next, lastEventId };
  }

  /**
   * Output bytes committed to the attempt's files move the job's stream by their count; `patch` (the output
   * counters) is saved with them. Returns the job with its new end.
   */
  async addOutput(tx: StoreOps, job: JobRecord, bytes: number, patch: JobPatch): Promise<JobRecord> {
    const { lastEventId } = await tx.appendToStream(job.id, [{ outputBytes: bytes }], patch);
    return { ...job, ...patch, lastEventId };
  }

  /** Output was committed (its counters and `lastEventId` saved): the job's subscribers read it. */
  outputAdded(jobId: string): void {
    this.hub.notify(jobId);
  }

  /** Changes a job's fields; when the state changes, also appends the `state` event. */
  async update(tx: StoreOps, job: JobRecord, patch: JobPatch): Promise<JobRecord> {
    if (!patch.state || patch.state === job.state) {
      await tx.updateJob(job.id, patch);
      return { ...job, ...patch };
    }
    if (!ALLOWED[job.state].includes(patch.state)) {
      throw new Error(`illegal job transition ${job.state} → ${patch.state} for ${job.id}`);
    }
    const next: JobRecord = { ...job, ...patch };
    const workerName = next.workerId ? await this.workerName(tx, next.workerId) : null;
    const event: StateEvent = {
      state: next.state,
      attempt: next.attempt,
      reason: next.reason,
      exitCode: next.exitCode,
      workerId: next.workerId,
      workerName,
      error: next.error,
    };
    return this.record(tx, job, 'state', event, patch);
  }

  private async workerName(tx: StoreOps, workerId: string): Promise<string | null> {
    const known = this.workerNames.get(workerId);
    if (known) return known;
    const name = (await tx.getWorker(workerId))?.name ?? null;
    if (this.workerNames.size >= KEPT_WORKER_NAMES) this.workerNames.clear();
    if (name) this.workerNames.set(workerId, name);
    return name;
  }
}
