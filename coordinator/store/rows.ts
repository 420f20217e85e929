// What both backends need to turn jobs and rows into records, apart from either: a PostgreSQL coordinator does
// not load better-sqlite3.
import type { JobRecord, PoolUsageRecord, SubmissionKeyRecord } from './types';

/**
 * A job's bucket: all that decides which workers may take it, so one head stands for the whole bucket: its labels,
 * sorted (labels hold no comma or space), and what it asks of a worker's isolation (network, a sandbox).
 */
export const bucketKey = (spec: JobRecord['spec']) =>
  [...new Set(spec.labels)].sort().join(',') + (spec.network ? ' network' : '') + (spec.requireSandbox ? ' sandbox' : '');

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
