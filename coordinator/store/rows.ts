// What both backends share apart from either (row shapes, stream numbering, in-process ordering): a PostgreSQL
// coordinator does not load better-sqlite3.
import type { EventRecord, JobFields, JobRecord, PoolUsageRecord, StreamEntry, SubmissionKeyRecord } from './types';

/**
 * A job's bucket: all that decides which workers may take it, so one head stands for the whole bucket: its labels,
 * sorted (labels hold no comma or space), and what it asks of a worker's isolation (network, a sandbox).
 */
export const bucketKey = (spec: JobRecord['spec']) =>
  [...new Set(spec.labels)].sort().join(',') + (spec.network ? ' network' : '') + (spec.requireSandbox ? ' sandbox' : '');

/** A job's changeable fields, stripped of its stream's end (which only appendToStream moves) if a caller's object carries it. */
export const changeableFields = (patch: JobFields): JobFields => {
  const { lastEventId: _end, ...fields } = patch as JobFields & { lastEventId?: number };
  return fields;
};

/** How far entries move a job's stream: one position per event, one per output byte. */
export const streamLength = (entries: readonly StreamEntry[]): number =>
  entries.reduce((n, entry) => n + ('outputBytes' in entry ? entry.outputBytes : 1), 0);

/** The events among `entries`, numbered back from the stream's new end (both backends allocate the same way). */
export function placeEvents(jobId: string, entries: readonly StreamEntry[], end: number): EventRecord[] {
  let at = end - streamLength(entries);
  const events: EventRecord[] = [];
  for (const entry of entries) {
    if ('outputBytes' in entry) at += entry.outputBytes;
    else events.push({ ...entry, jobId, id: ++at });
  }
  return events;
}

/** Calls with one key run one after another, in the order made; calls with different keys do not wait. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const call = (this.tails.get(key) ?? Promise.resolve()).then(fn);
    const settled = call.catch(() => undefined);
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return call;
  }
}

/** A row of the pool usage query (both backends select these columns). */
export const poolUsageRecord = (r: Record<string, unknown>): PoolUsageRecord => ({
  submitter: r.submitted_by as string,
  slotSeconds: r.slot_seconds as number,
  at: r.at as number,
  running: r.running as number,
  runningLeasedAtSum: r.leased_at_sum as number,
  latestLeasedAt: r.latest_leased_at as number,
});

/** A submit key's row (both backends name its columns alike). */
export const submissionKeyOf = (row: Record<string, unknown>): SubmissionKeyRecord => ({
  submittedBy: row.submitted_by as string,
  key: row.idempotency_key as string,
  requestHash: row.request_hash as string,
  jobId: (row.job_id as string | null) ?? null,
  groupId: (row.group_id as string | null) ?? null,
  createdAt: Number(row.created_at),
});
