// The store interface: every method is async so a PostgreSQL backend can implement it without touching the
// services or the routes. State transitions that must be atomic run inside `transaction()`.
//
// The contract every backend keeps (contract.test.ts runs it against each), so that several coordinators
// sharing one database stay correct, not only one process holding SQLite:
// - Inside a transaction, getJob and getLease lock the row they read until commit, and activeLeasesOfWorker
//   locks its worker: a read-check-write (is the job still queued? is the lease still active? is a slot
//   free?) is atomic whichever coordinator runs it. SQLite gets this by running one transaction at a time;
//   PostgreSQL by SELECT … FOR UPDATE.
// - queueHeads inside a transaction skips jobs another transaction holds (FOR UPDATE SKIP LOCKED): two
//   claims at once take two jobs, never one twice, and never wait on each other.
// - Positions in a job's stream (event ids, output bytes) are allocated by the store: appendToStream moves the
//   job's end (lastEventId) past what it appends in one atomic step on the job's row (UPDATE … RETURNING) and
//   numbers the events from the end it returns. Two writers at once, on any coordinators, get consecutive
//   positions: no gap, no id given twice. No caller computes an id or writes lastEventId.
// - An attempt's output is written to files every coordinator shares (--blob-dir) before its counters are
//   committed. withLock (keyed by the lease) makes "read the committed end → write there → commit" one step
//   across coordinators: PostgreSQL by an advisory lock held over the write, SQLite in-process (its only
//   process). A node that read the end never writes at it, or cuts the files back to it, once another moved it.
// - A transaction may run `fn` again after a serialization failure or a deadlock (PostgreSQL): `fn` writes
//   only through the store, and whatever must follow the commit (waking SSE streams) goes to afterCommit.
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

/** A browser sign-in: the link's one-time code, or the session token it was exchanged for. */
export interface SignInRecord {
  /** sha256 of the code or token: neither is stored. */
  hash: string;
  kind: 'code' | 'session';
  /** Who it signs in as. */
  name: string;
  role: Role;
  /** By the store's clock; the row is pruned by the retention sweep after. */
  expiresAt: number;
}

/** The API's Worker as stored: times as epoch ms, and what the worker said of itself instead of the derived state. */
export interface WorkerRecord extends Omit<Worker, 'state' | 'problem' | 'registeredAt' | 'lastSeenAt' | 'currentJobs' | 'outdated'> {
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
  /**
   * The end of the job's stream (changed for output as bytes): the id of its latest event plus the output bytes
   * committed since. Moved only by the store's appendToStream, which allocates positions; see job-state.ts.
   */
  lastEventId: number;
  /** The matrix submission it is one of (null alone). Added in session 3 (fan-out): column group_id. */
  groupId: string | null;
}
export type NewJobRecord = Omit<JobRecord, 'seq'>;
/** The fields a caller may change: the stream's end is the store's to move (appendToStream). */
export type JobFields = Partial<Omit<JobRecord, 'id' | 'seq' | 'lastEventId'>>;

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

export interface JobTimes {
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface LeaseTime {
  workerId: string;
  submittedBy: string;
  ms: number;
  jobs: number;
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

/**
 * A job's state changes and command records. Output is not stored here (it is in the attempt's files) but
 * numbered with these: `id` is the position in the job's stream after the event, counting every output byte.
 */
export interface EventRecord {
  jobId: string;
  id: number;
  type: JobEventType;
  attempt: number;
  data: unknown;
  /** How many bytes of its attempt's output came before it (a command record: the command's boundary). */
  outputOffset: number;
}

/** What is appended to a job's stream: an event (its id allocated by the store) or a run of output bytes. */
export type StreamEntry = Omit<EventRecord, 'jobId' | 'id'> | { outputBytes: number };

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
  /** Added in session 3 (fan-out): only the jobs of this matrix submission. */
  groupId?: string;
  beforeSeq?: number;
  limit: number;
}

/** A submitter's run time on the pool (slot-seconds), as it stood at `at`; it decays from there (fair share). */
export interface UsageRecord {
  submitter: string;
  slotSeconds: number;
  at: number;
}

/** A submitter's recorded usage (0 at 0 if none) and the leases they hold now: what fair share ranks people by. */
export interface PoolUsageRecord extends UsageRecord {
  running: number;
  /** Sum of `leasedAt` over those leases: with `running`, their run time so far without a row per lease. */
  runningLeasedAtSum: number;
  /** The latest `leasedAt` of those leases (0 if none). */
  latestLeasedAt: number;
}

/**
 * An idempotent submit (added in issue 13): what a submitter's `Idempotency-Key` answered, so a resend of the
 * same submit (a connection cut after the commit, a failover to another node) gets that answer, not a new job.
 */
export interface SubmissionKeyRecord {
  submittedBy: string;
  key: string;
  /** SHA-256 of the request (spec and bundle): the same key with another request is refused, not answered. */
  requestHash: string;
  /** What it created: a job, or a matrix's group. */
  jobId: string | null;
  groupId: string | null;
  createdAt: number;
}

export interface StoreOps {
  /** Runs `hook` once the transaction commits (not at all if it rolls back); outside a transaction, now. */
  afterCommit(hook: () => void): void;

  insertToken(token: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Revokes every live token matching the filter; returns how many. */
  revokeTokens(filter: { id?: string; name?: string; workerId?: string }, at: number): Promise<number>;
  /** Takes one use of a limited-use token that is live and unexpired; false when none is left. */
  consumeTokenUse(id: string, at: number): Promise<boolean>;

  insertSignIn(signIn: SignInRecord): Promise<void>;
  /**
   * Takes a sign-in code unexpired at `at` (deleting it: good once); undefined when it is unknown, used or expired.
   * Of callers racing for one code, on any coordinators, one gets it.
   */
  takeSignInCode(hash: string, at: number): Promise<SignInRecord | undefined>;
  /** The session of this token hash, unexpired at `at`. */
  findSession(hash: string, at: number): Promise<SignInRecord | undefined>;
  /** Ends a session (signed out): false when there was none of this hash. */
  deleteSession(hash: string): Promise<boolean>;
  /** Deletes the codes and sessions expired at `at`; returns how many. */
  deleteExpiredSignIns(at: number): Promise<number>;

  insertWorker(worker: WorkerRecord): Promise<void>;
  getWorker(id: string): Promise<WorkerRecord | undefined>;
  listWorkers(): Promise<WorkerRecord[]>;
  updateWorker(id: string, patch: Partial<Omit<WorkerRecord, 'id'>>): Promise<void>;
  deleteWorker(id: string): Promise<void>;

  insertJob(job: NewJobRecord): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  updateJob(id: string, patch: JobFields): Promise<void>;
  listJobs(filter: JobListFilter): Promise<JobRecord[]>;
  /**
   * The best queued job (priority desc, then age) of each bucket × submitter (a bucket: jobs alike in what they
   * need of a worker); of these submitters' jobs only, if given. As many as there are (label set, person) pairs
   * in the queue, not jobs: the best job a worker can take is among the heads it fits (fair share picks the person).
   * Changed for fair share (session 3): buckets were by label set only.
   */
  queueHeads(onlySubmitters?: readonly string[]): Promise<JobRecord[]>;
  /** Fair share (added session 3): inserts or replaces a submitter's usage. */
  putUsage(usage: UsageRecord): Promise<void>;
  /**
   * Adds `slotSeconds` of run time to a submitter's usage, decaying what was there to `at` first (halving every
   * `halfLifeMs`), in one atomic step: two coordinators charging one person at once both count. In a PostgreSQL
   * transaction the write is made at commit, so the person's row (every completion of theirs updates it) is
   * locked while the transaction commits, not while it runs; a read later in the same transaction does not see it.
   */
  chargeUsage(submitter: string, slotSeconds: number, at: number, halfLifeMs: number): Promise<void>;
  /**
   * Fair share (added session 3), one query: every submitter with recorded usage or an active lease, with both
   * (usage rows left-joined to active leases grouped by the job's submitter).
   */
  poolUsage(): Promise<PoolUsageRecord[]>;
  /** Jobs holding a lease (leased, running, suspended): what the timeout sweep looks at. */
  jobsInFlight(): Promise<JobRecord[]>;
  countJobsByState(): Promise<Partial<Record<JobState, number>>>;
  /**
   * Added in session 3 (pool activity chart): when each job not ended before `since` was created, started and
   * ended (null while not), at most `limit` of them, oldest first.
   */
  jobTimesSince(since: number, limit: number): Promise<JobTimes[]>;
  /**
   * Deletes up to `limit` jobs that ended before `cutoff`, with their events, commands and leases; returns their
   * ids (changed for output as bytes: the caller deletes their output files).
   */
  deleteJobsEndedBefore(cutoff: number, limit: number): Promise<string[]>;
  /** The blobs (bundles, artifacts) some job still refers to. */
  referencedBlobs(): Promise<string[]>;

  insertLease(lease: LeaseRecord): Promise<void>;
  getLease(id: string): Promise<LeaseRecord | undefined>;
  updateLease(id: string, patch: Partial<Omit<LeaseRecord, 'id'>>): Promise<void>;
  activeLeasesOfWorker(workerId: string): Promise<LeaseRecord[]>;
  /** How many active leases each worker holds (workers holding none are absent): one query for the whole pool. */
  activeLeaseCounts(): Promise<Map<string, number>>;
  leasesOfJob(jobId: string): Promise<LeaseRecord[]>;
  /** Added in session 3 (worker page): a worker's latest leases, newest first. */
  recentLeasesOfWorker(workerId: string, limit: number): Promise<LeaseRecord[]>;
  /**
   * Added in session 3 (pool usage): the time leases held within [since, until), clipped to it (a lease still
   * active counts up to `until`), summed per worker and submitter, with how many jobs: one query.
   */
  leaseTimeSince(since: number, until: number): Promise<LeaseTime[]>;
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

  /**
   * Appends `entries` to the job's stream in order and saves `patch` with them, in one atomic step on the job's
   * row: the store allocates the positions (the end moves by one per event and by each run's byte count) and
   * returns the event ids and the new end. Concurrent appends to one job get consecutive positions, never the same.
   */
  appendToStream(jobId: string, entries: readonly StreamEntry[], patch?: JobFields): Promise<{ ids: number[]; lastEventId: number }>;
  /** Writes an event with the id it already has: copying a store (ids kept), never a new event (appendToStream). */
  insertEvent(event: EventRecord): Promise<void>;
  eventsAfter(jobId: string, afterId: number, limit: number): Promise<EventRecord[]>;
  /**
   * The job's last event with an id at or before `position` (new for output as bytes: a stream resumed at
   * `position` reads the output of that event's attempt from there).
   */
  eventAtOrBefore(jobId: string, position: number): Promise<EventRecord | undefined>;

  /**
   * Records a submit's key unless one of that submitter with that key created at or after `liveSince` is there,
   * and then returns that one (undefined when this call recorded it; an older one is replaced). The key is unique:
   * of two transactions recording it at once, the second waits for the first's commit and gets its record.
   * (Added in issue 13.)
   */
  claimSubmissionKey(record: SubmissionKeyRecord, liveSince: number): Promise<SubmissionKeyRecord | undefined>;
  /** Forgets submit keys created before `cutoff`; returns how many. (Added in issue 13.) */
  deleteSubmissionKeysBefore(cutoff: number): Promise<number>;

  insertAudit(entry: AuditRecord): Promise<void>;
  /** Newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRow[]>;
}

/** What one coordinator tells the others sharing the store: a job was queued; these jobs have new events. */
export type StoreSignal = { queued: true } | { jobs: string[] };

export interface Store extends StoreOps {
  /** Tells the other coordinators sharing the store (after commit; best effort: they also poll). No-op when unshared. */
  signal(signal: StoreSignal): void;
  /** Calls `fn` with each signal another coordinator sends; returns what stops it. */
  onSignal(fn: (signal: StoreSignal) => void): () => void;
  /**
   * Whether this process is the one that sweeps (expires leases, enforces timeouts): one coordinator at a time
   * holds the role, by an advisory lock, until it stops or loses its connection. Always true when unshared.
   */
  isSweeper(): Promise<boolean>;
  /**
   * Epoch ms that every coordinator sharing the store agrees on: what records are stamped with and stored times
   * (a job's timeout, an invite's expiry, a retention cutoff) are judged by, whichever node wrote them. PostgreSQL:
   * the database's clock, measured now and then and run on the monotonic clock in between (no query per call);
   * SQLite: this process's wall clock.
   */
  now(): number;
  /** Whether other coordinators use this store too: then what one process remembers is not the whole truth. */
  readonly shared: boolean;
  /**
   * Runs `fn` holding the lock named `key`, which every coordinator sharing the store respects; calls with one key
   * run one at a time, in this process in the order called. Not a transaction: `fn` may wait on I/O (write files)
   * and run transactions of its own.
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` atomically. `fn` must not wait on I/O other than the store's own calls. */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
