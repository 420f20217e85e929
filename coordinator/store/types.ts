// The store interface: every method is async so a PostgreSQL backend can implement it without touching the
// services or the routes. State transitions that must be atomic run inside `transaction()`.
import type { JobEventType, JobReason, JobState, ReportedWorkerState, ResolvedJobSpec, Role, Worker } from '../../protocol/api';

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** sha256 of the token: the token itself is never stored. */
  hash: string;
  workerId: string | null;
  createdAt: number;
  revokedAt: number | null;
  /** Invites and other short-lived tokens stop working then; null: never. */
  expiresAt: number | null;
  /** Invites: enrollments left (revoked at 0); null: unlimited. */
  usesLeft: number | null;
}

/** The API's Worker as stored: times as epoch ms, and what the worker said of itself instead of the derived state. */
export interface WorkerRecord extends Omit<Worker, 'state' | 'problem' | 'registeredAt' | 'lastSeenAt' | 'currentJobs'> {
  registeredAt: number;
  lastSeenAt: number;
  reportedState: ReportedWorkerState;
}

/** The spec as stored: the resolved spec plus the secrets, which no read route returns. */
export interface StoredJobSpec extends ResolvedJobSpec {
  secrets?: Record<string, string>;
}

export interface JobRecord {
  id: string;
  /** Insertion order, assigned by the store; newest-first listing and the age tie-break use it. */
  seq: number;
  name: string;
  state: JobState;
  reason: JobReason;
  error: string | null;
  exitCode: number | null;
  spec: StoredJobSpec;
  bundleSha: string | null;
  bundleSize: number | null;
  submittedBy: string;
  createdAt: number;
  /** When it last became claimable (created or requeued): the start of claim latency. */
  queuedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  attempt: number;
  /** Attempts lost to dead or cut-off workers; counts against maxAttempts (vacating does not). */
  failures: number;
  workerId: string | null;
  leaseId: string | null;
  cancelRequested: boolean;
  artifactsSha: string | null;
  artifactsSize: number | null;
  timeoutAt: number | null;
  outputHeadBytes: number;
  outputTailBytes: number;
  outputDroppedBytes: number;
  lastEventId: number;
}
export type NewJobRecord = Omit<JobRecord, 'seq'>;

export type LeaseStatus = 'active' | 'completed' | 'expired' | 'released' | 'cancelled' | 'timed_out';

export interface LeaseRecord {
  id: string;
  jobId: string;
  workerId: string;
  attempt: number;
  status: LeaseStatus;
  leasedAt: number;
  expiresAt: number;
  endedAt: number | null;
  /** Next output sequence number expected from the worker. */
  nextSeq: number;
  stopReason: 'cancelled' | 'timed_out' | null;
}

export interface CurrentJob {
  workerId: string;
  id: string;
  name: string;
  state: JobState;
}

export interface CommandRecord {
  jobId: string;
  attempt: number;
  index: number;
  command: string;
  exitCode: number | null;
  signal: string | null;
  startedAt: number;
  durationMs: number | null;
}

export interface EventRecord {
  jobId: string;
  id: number;
  type: JobEventType;
  attempt: number;
  data: unknown;
  /** Output bytes carried (0 for non-output events); output is capped per attempt. */
  bytes: number;
  /** For output: whether it belongs to the kept beginning ('head') or the rolling end ('tail'). */
  part: 'head' | 'tail' | null;
}

export interface AuditRecord {
  at: number;
  actor: string;
  role: string;
  action: string;
  target: string | null;
  ip: string | null;
}

export interface AuditRow extends AuditRecord {
  id: number;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
  beforeId?: number;
  limit: number;
}

export interface JobListFilter {
  states?: JobState[];
  submittedBy?: string;
  beforeSeq?: number;
  limit: number;
}

export interface StoreOps {
  insertToken(token: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Revokes every live token matching the filter; returns how many. */
  revokeTokens(filter: { id?: string; name?: string; workerId?: string }, at: number): Promise<number>;
  /** Takes one use of a limited-use token that is live and unexpired; false when none is left. */
  consumeTokenUse(id: string, at: number): Promise<boolean>;

  insertWorker(worker: WorkerRecord): Promise<void>;
  getWorker(id: string): Promise<WorkerRecord | undefined>;
  listWorkers(): Promise<WorkerRecord[]>;
  updateWorker(id: string, patch: Partial<Omit<WorkerRecord, 'id'>>): Promise<void>;
  deleteWorker(id: string): Promise<void>;

  insertJob(job: NewJobRecord): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  updateJob(id: string, patch: Partial<Omit<JobRecord, 'id' | 'seq'>>): Promise<void>;
  listJobs(filter: JobListFilter): Promise<JobRecord[]>;
  /**
   * The first queued job (priority desc, then age) of each set of labels jobs ask for: the best job a worker
   * can take is the best of the heads it fits. As many as there are label sets in the queue, not jobs.
   */
  /** The best queued job of each bucket (jobs alike in what they need of a worker); of these submitters' jobs only, if given. */
  queueHeads(onlySubmitters?: readonly string[]): Promise<JobRecord[]>;
  /** Jobs holding a lease (leased, running, suspended): what the timeout sweep looks at. */
  jobsInFlight(): Promise<JobRecord[]>;
  countJobsByState(): Promise<Partial<Record<JobState, number>>>;
  /** Deletes up to `limit` jobs that ended before `cutoff`, with their events, commands and leases; returns how many. */
  deleteJobsEndedBefore(cutoff: number, limit: number): Promise<number>;
  /** The blobs (bundles, artifacts) some job still refers to. */
  referencedBlobs(): Promise<string[]>;

  insertLease(lease: LeaseRecord): Promise<void>;
  getLease(id: string): Promise<LeaseRecord | undefined>;
  updateLease(id: string, patch: Partial<Omit<LeaseRecord, 'id'>>): Promise<void>;
  activeLeasesOfWorker(workerId: string): Promise<LeaseRecord[]>;
  /** How many active leases each worker holds (workers holding none are absent): one query for the whole pool. */
  activeLeaseCounts(): Promise<Map<string, number>>;
  leasesOfJob(jobId: string): Promise<LeaseRecord[]>;
  /**
   * The job's leases, oldest first, each with its worker's name (null once the worker has left the pool): the job
   * view's attempts in one query instead of one per lease. (Added in issue 11.)
   */
  attemptsOf(jobId: string): Promise<(LeaseRecord & { workerName: string | null })[]>;
  /**
   * Renews every active lease of these workers and stamps them seen at `seenAt`: one batch of heartbeats, two
   * statements whatever its size. (Changed in issue 11: it took one worker.)
   */
  renewLeases(workerIds: readonly string[], seenAt: number, expiresAt: number): Promise<void>;
  /**
   * The jobs workers hold active leases on (of one worker, or of all), with each job's name and state: the pool
   * view in one query instead of one per worker and lease. (Added in issue 11.)
   */
  currentJobs(workerId?: string): Promise<CurrentJob[]>;

  upsertCommand(command: CommandRecord): Promise<void>;
  commandsOf(jobId: string, attempt: number): Promise<CommandRecord[]>;

  insertEvent(event: EventRecord): Promise<void>;
  eventsAfter(jobId: string, afterId: number, limit: number): Promise<EventRecord[]>;
  /** Deletes the oldest tail output of an attempt until at least `bytes` are freed; returns the bytes freed. */
  dropOldestTail(jobId: string, attempt: number, bytes: number): Promise<number>;
  /** An attempt's output of one part, a page at a time after event `afterId`. */
  outputOf(jobId: string, attempt: number, part: 'head' | 'tail', afterId: number, limit: number): Promise<EventRecord[]>;

  insertAudit(entry: AuditRecord): Promise<void>;
  /** Newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRow[]>;
}

export interface Store extends StoreOps {
  /** Runs `fn` atomically. `fn` must not wait on I/O other than the store's own calls. */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
