// The job's state machine and its event log, written together in one transaction: whatever changes a job
// also appends the event that SSE subscribers replay. Output is not in the log (it is in the attempt's files,
// output-log.ts) but shares its numbering: a job's stream is its events and its output bytes in order, and
// `lastEventId` is the stream's end. An event's id is the position after it; n output bytes advance the end by n.
import type { JobEventType, JobState, StateEvent } from '../../protocol/api';
import type { Logger } from '../middleware/errors';
import type { EventHub } from './event-hub';
import { outputEnd } from './output-log';
import type { JobRecord, StoreOps } from '../store/types';

export type JobPatch = Partial<Omit<JobRecord, 'id' | 'seq' | 'lastEventId'>>;

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
  async append(...event: NewEvent): Promise<JobRecord> {
    const next = await this.record(...event);
    const [tx, job] = event;
    await tx.updateJob(job.id, { lastEventId: next.lastEventId });
    return next;
  }

  /**
   * Writes the event row only; the caller saves the returned job's `lastEventId` with its other fields. The
   * event marks where it happened in the attempt's output (a command's start and end: its boundaries).
   */
  async record(...[tx, job, type, data]: NewEvent): Promise<JobRecord> {
    const id = job.lastEventId + 1;
    await tx.insertEvent({ jobId: job.id, id, type, attempt: job.attempt, data, outputOffset: outputEnd(job) });
    // Subscribers read the store when woken: not before the event is committed (another coordinator's pool).
    tx.afterCommit(() => this.hub.notify(job.id));
    if (type === 'state') {
      const state = data as StateEvent;
      this.logger.info(`job ${state.state}`, {
        job: job.id, attempt: state.attempt, worker: state.workerName ?? state.workerId ?? undefined,
        reason: state.reason ?? undefined, exitCode: state.exitCode ?? undefined, error: state.error ?? undefined,
      });
    }
    return { ...job, lastEventId: id };
  }

  /** Output was committed (its counters and `lastEventId` saved): the job's subscribers read it. */
  outputAdded(jobId: string): void {
    this.hub.notify(jobId);
  }

  /** Changes a job's fields; when the state changes, also appends the `state` event. */
  async update(tx: StoreOps, job: JobRecord, patch: JobPatch): Promise<JobRecord> {
    let next: JobRecord = { ...job, ...patch };
    if (patch.state && patch.state !== job.state) {
      if (!ALLOWED[job.state].includes(patch.state)) {
        throw new Error(`illegal job transition ${job.state} → ${patch.state} for ${job.id}`);
      }
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
      next = await this.record(tx, next, 'state', event);
    }
    await tx.updateJob(job.id, { ...patch, lastEventId: next.lastEventId });
    return next;
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
