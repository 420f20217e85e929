// The embedded store: SQLite in WAL mode (better-sqlite3). A committed transaction survives `kill -9` of
// the coordinator (WAL with synchronous=NORMAL); `synchronous: 'full'` also survives power loss, at fsync cost.
import Database from 'better-sqlite3';
import type {
  AuditFilter,
  AuditRecord,
  AuditRow,
  CommandRecord,
  CurrentJob,
  EventRecord,
  JobFields,
  JobListFilter,
  JobRecord,
  JobTimes,
  LeaseRecord,
  LeaseTime,
  NewJobRecord,
  Store,
  PoolUsageRecord,
  SignInRecord,
  StoreOps,
  StreamEntry,
  SubmissionKeyRecord,
  TokenRecord,
  UsageRecord,
  WorkerRecord,
} from './types';
import { bucketKey, changeableFields, KeyedQueue, placeEvents, poolUsageRecord, streamLength, submissionKeyOf } from './rows';

const SCHEMA_VERSION = 9;

const MIGRATION_1 = `
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
  worker_id TEXT, created_at INTEGER NOT NULL, revoked_at INTEGER
);
CREATE TABLE workers (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, os TEXT NOT NULL, arch TEXT, cpus INTEGER, memory_bytes INTEGER,
  labels TEXT NOT NULL, slots INTEGER NOT NULL, version TEXT, registered_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL, reported_state TEXT NOT NULL
);
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, state TEXT NOT NULL,
  reason TEXT, error TEXT, exit_code INTEGER, spec TEXT NOT NULL, priority INTEGER NOT NULL,
  bundle_sha TEXT, bundle_size INTEGER, submitted_by TEXT NOT NULL, created_at INTEGER NOT NULL,
  queued_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, attempt INTEGER NOT NULL,
  failures INTEGER NOT NULL, worker_id TEXT, lease_id TEXT, cancel_requested INTEGER NOT NULL,
  artifacts_sha TEXT, artifacts_size INTEGER, timeout_at INTEGER, output_head_bytes INTEGER NOT NULL,
  output_tail_bytes INTEGER NOT NULL, output_dropped_bytes INTEGER NOT NULL, last_event_id INTEGER NOT NULL
);
CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 'queued';
CREATE INDEX jobs_in_flight ON jobs (state) WHERE state IN ('leased', 'running', 'suspended');
CREATE INDEX jobs_state_seq ON jobs (state, seq);
CREATE INDEX jobs_submitter_seq ON jobs (submitted_by, seq);
CREATE TABLE leases (
  id TEXT PRIMARY KEY, job_id TEXT NOT NULL, worker_id TEXT NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, leased_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ended_at INTEGER,
  next_seq INTEGER NOT NULL, stop_reason TEXT
);
CREATE INDEX leases_active ON leases (worker_id) WHERE status = 'active';
CREATE INDEX leases_expiry ON leases (expires_at) WHERE status = 'active';
CREATE INDEX leases_job ON leases (job_id);
CREATE TABLE commands (
  job_id TEXT NOT NULL, attempt INTEGER NOT NULL, idx INTEGER NOT NULL, command TEXT NOT NULL,
  exit_code INTEGER, signal TEXT, started_at INTEGER NOT NULL, duration_ms INTEGER,
  PRIMARY KEY (job_id, attempt, idx)
) WITHOUT ROWID;
CREATE TABLE events (
  job_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, attempt INTEGER NOT NULL,
  data TEXT NOT NULL, bytes INTEGER NOT NULL, part TEXT,
  PRIMARY KEY (job_id, id)
) WITHOUT ROWID;
CREATE INDEX events_tail ON events (job_id, attempt, id) WHERE part = 'tail';
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT, ip TEXT
);
`;

// The queue in buckets by label set, so a claim looks at the head of each bucket, not at every queued job: 5,000
// jobs for a label nobody has are one bucket whose head does not fit. A bucket found empty is dropped; a job
// queued into it (submitted or requeued) brings it back.
const MIGRATION_2 = `
ALTER TABLE jobs ADD COLUMN labels_key TEXT NOT NULL DEFAULT '';
UPDATE jobs SET labels_key = coalesce((SELECT group_concat(value, ',') FROM (SELECT value FROM json_each(jobs.spec, '$.labels') ORDER BY value)), '');
CREATE INDEX jobs_bucket ON jobs (labels_key, priority DESC, seq) WHERE state = 'queued';
CREATE TABLE queue_buckets (labels_key TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT OR IGNORE INTO queue_buckets SELECT DISTINCT labels_key FROM jobs WHERE state = 'queued';
`;

/** Workers say how they contain jobs (JSON; NULL for agents that did not say). */
const MIGRATION_3 = `ALTER TABLE workers ADD COLUMN isolation TEXT;`;

/** Trust: expiring and limited-use tokens (invites, enrollment), admin-held worker states, audit queries. */
const MIGRATION_4 = `
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN uses_left INTEGER;
ALTER TABLE workers ADD COLUMN admin_state TEXT NOT NULL DEFAULT 'active';
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_action ON audit (action, id);
`;

/**
 * Output as bytes: output lives in the attempts' files; an event row marks its place in its attempt's output.
 * (`bytes` and `part` belonged to output rows: new rows write 0 and NULL.)
 */
const MIGRATION_5 = `
ALTER TABLE events ADD COLUMN output_offset INTEGER NOT NULL DEFAULT 0;
DROP INDEX events_tail;
`;

/** Fan-out groups; a worker's recent leases and the pool's usage read leases by worker and by time. */
const MIGRATION_6 = `
ALTER TABLE jobs ADD COLUMN group_id TEXT;
CREATE INDEX jobs_group ON jobs (group_id, seq) WHERE group_id IS NOT NULL;
CREATE INDEX leases_worker_time ON leases (worker_id, leased_at);
CREATE INDEX leases_time ON leases (leased_at);
CREATE INDEX jobs_finished ON jobs (finished_at);
`;

/**
 * Fair share: the queue in buckets by label set × submitter, so each person's best job is a head and a claim
 * picks among people without scanning their queues; and each person's decayed run time.
 */
const MIGRATION_7 = `
DROP TABLE queue_buckets;
CREATE TABLE queue_buckets (labels_key TEXT NOT NULL, submitted_by TEXT NOT NULL, PRIMARY KEY (labels_key, submitted_by)) WITHOUT ROWID;
INSERT OR IGNORE INTO queue_buckets SELECT DISTINCT labels_key, submitted_by FROM jobs WHERE state = 'queued';
DROP INDEX jobs_bucket;
CREATE INDEX jobs_bucket ON jobs (labels_key, submitted_by, priority DESC, seq) WHERE state = 'queued';
CREATE TABLE usage (submitted_by TEXT PRIMARY KEY, slot_seconds REAL NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
ALTER TABLE workers ADD COLUMN protocol_version INTEGER;
`;

/** Idempotent submits: each submitter's keys and what they created, forgotten after a day. */
const MIGRATION_8 = `
CREATE TABLE submission_keys (
  submitted_by TEXT NOT NULL, idempotency_key TEXT NOT NULL, request_hash TEXT NOT NULL, job_id TEXT, group_id TEXT,
  created_at INTEGER NOT NULL, PRIMARY KEY (submitted_by, idempotency_key)
) WITHOUT ROWID;
CREATE INDEX submission_keys_created ON submission_keys (created_at);
`;

/** Browser sign-in codes and sessions, hashed: in the store so a restart keeps them (and PostgreSQL's nodes share them). */
const MIGRATION_9 = `
CREATE TABLE sign_ins (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX sign_ins_expires ON sign_ins (expires_at);
`;

type Row = Record<string, unknown>;
type Column = { name: string; kind?: 'json' | 'bool' };

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Maps a record to and from a row, by naming convention (camelCase ↔ snake_case) plus a few typed columns. */
class Mapper<T extends object> {
  private readonly columns: Map<string, Column>;
  constructor(keys: (keyof T & string)[], kinds: Partial<Record<keyof T & string, 'json' | 'bool'>> = {}) {
    this.columns = new Map(keys.map((k) => [k, { name: snake(k), ...(kinds[k] ? { kind: kinds[k] } : {}) }]));
  }
  toRow(record: Partial<T>): Row {
    const row: Row = {};
    for (const [key, value] of Object.entries(record)) {
      const column = this.columns.get(key);
      if (!column) continue;
      row[column.name] = column.kind === 'json' ? JSON.stringify(value) : column.kind === 'bool' ? (value ? 1 : 0) : value;
    }
    return row;
  }
  fromRow(row: Row): T {
    const record: Record<string, unknown> = {};
    for (const [key, column] of this.columns) {
      const value = row[column.name];
      record[key] = column.kind === 'json' ? JSON.parse(value as string) : column.kind === 'bool' ? value === 1 : value;
    }
    return record as T;
  }
}

const signInMap = new Mapper<SignInRecord>(['hash', 'kind', 'name', 'role', 'expiresAt']);
const tokenMap = new Mapper<TokenRecord>(['id', 'name', 'role', 'hash', 'workerId', 'createdAt', 'revokedAt', 'expiresAt', 'usesLeft']);
const workerMap = new Mapper<WorkerRecord>(
  [
    'id', 'name', 'os', 'arch', 'cpus', 'memoryBytes', 'labels', 'slots', 'version', 'protocolVersion', 'isolation', 'registeredAt', 'lastSeenAt',
    'reportedState', 'adminState',
  ],
  { labels: 'json', isolation: 'json' },
);
const jobMap = new Mapper<JobRecord & { priority: number }>(
  [
    'id', 'seq', 'name', 'state', 'reason', 'error', 'exitCode', 'spec', 'priority', 'bundleSha', 'bundleSize',
    'submittedBy', 'createdAt', 'queuedAt', 'startedAt', 'finishedAt', 'attempt', 'failures', 'workerId', 'leaseId',
    'cancelRequested', 'artifactsSha', 'artifactsSize', 'timeoutAt', 'outputHeadBytes', 'outputTailBytes',
    'outputDroppedBytes', 'lastEventId', 'groupId',
  ],
  { spec: 'json', cancelRequested: 'bool' },
);
const leaseMap = new Mapper<LeaseRecord>([
  'id', 'jobId', 'workerId', 'attempt', 'status', 'leasedAt', 'expiresAt', 'endedAt', 'nextSeq', 'stopReason',
]);
const commandMap = new Mapper<CommandRecord>([
  'jobId', 'attempt', 'index', 'command', 'exitCode', 'signal', 'startedAt', 'durationMs',
]);
const eventMap = new Mapper<EventRecord>(['jobId', 'id', 'type', 'attempt', 'data', 'outputOffset'], { data: 'json' });
const auditMap = new Mapper<AuditRecord>(['at', 'actor', 'role', 'action', 'target', 'ip']);
const auditRowMap = new Mapper<AuditRow>(['id', 'at', 'actor', 'role', 'action', 'target', 'ip']);

// `index` is a keyword in SQL; the commands table calls it idx.
const commandRow = (c: Partial<CommandRecord>) => {
  const row = commandMap.toRow(c);
  if ('index' in row) {
    row.idx = row.index;
    delete row.index;
  }
  return row;
};
const commandFromRow = (row: Row) => commandMap.fromRow({ ...row, index: row.idx });

export interface SqliteStoreOptions {
  file: string;
  synchronous?: 'normal' | 'full';
}

/** The store's own methods: called on the transaction's handle they run in it, called standalone they queue. */
const STORE_OPS = new Set<string | symbol>();

export class SqliteStore implements Store {
  readonly shared = false;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private queue: Promise<unknown> = Promise.resolve();
  /** The handle a transaction's `fn` gets: the store itself, unqueued (the transaction already holds the connection). */
  private readonly txHandle: this;
  private open = false;
  /** What the open transaction runs after its commit. */
  private hooks: (() => void)[] = [];
  private readonly locks = new KeyedQueue();

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.txHandle = this;
    // One connection serves every caller. A standalone call made while another caller's transaction is open
    // would join it (and vanish with its rollback, or read what may never commit): it waits its turn instead.
    return new Proxy(this, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (!STORE_OPS.has(key) || typeof value !== 'function') return value;
        return (...args: unknown[]) => target.standalone(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
  }

  private standalone<T>(op: () => Promise<T>): Promise<T> {
    if (!this.open) return op();
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the data dir was written by a newer cmd-executor (schema ${version}); upgrade to open it`);
    }
    const migrations = [MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4, MIGRATION_5, MIGRATION_6, MIGRATION_7, MIGRATION_8, MIGRATION_9];
    if (version < migrations.length) {
      this.db.transaction(() => {
        for (let v = version; v < migrations.length; v++) this.db.exec(migrations[v]!);
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    }
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private insert(table: string, row: Row): Database.RunResult {
    const keys = Object.keys(row);
    return this.stmt(`INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map((k) => `@${k}`).join(', ')})`).run(row);
  }

  private update(table: string, where: Row, row: Row): void {
    const keys = Object.keys(row);
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    const conds = Object.keys(where).map((k) => `${k} = @w_${k}`).join(' AND ');
    const params: Row = { ...row };
    for (const [k, v] of Object.entries(where)) params[`w_${k}`] = v;
    this.stmt(`UPDATE ${table} SET ${sets} WHERE ${conds}`).run(params);
  }

  private all(sql: string, ...params: unknown[]): Row[] {
    return this.stmt(sql).all(...params) as Row[];
  }

  private get(sql: string, ...params: unknown[]): Row | undefined {
    return this.stmt(sql).get(...params) as Row | undefined;
  }

  async transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    // One connection: transactions run one after another. `fn` only awaits this store, whose calls resolve
    // at once, so a transaction holds the write lock for microseconds.
    const run = this.queue.then(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      this.open = true;
      try {
        const result = await fn(this.txHandle);
        this.db.exec('COMMIT');
        for (const hook of this.hooks) hook();
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      } finally {
        this.open = false;
        this.hooks = [];
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Nobody else stamps this store's records: this process's wall clock. */
  now(): number {
    return Date.now();
  }

  async isSweeper(): Promise<boolean> {
    return true;
  }

  /** The only process on the store: its own order is the whole lock. Not async: a store op would queue `fn`'s transactions behind itself. */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn);
  }

  /** One process holds this store: nobody else to tell. */
  signal(): void {}
  onSignal(): () => void {
    return () => {};
  }

  /** On the one connection, a hook given outside a transaction while another caller's is open waits for its commit. */
  afterCommit(hook: () => void): void {
    if (this.open) this.hooks.push(hook);
    else hook();
  }

  async close(): Promise<void> {
    await this.queue;
    this.db.close();
  }

  // ---- tokens ----
  async insertToken(token: TokenRecord): Promise<void> {
    this.insert('tokens', tokenMap.toRow(token));
  }
  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.get('SELECT * FROM tokens WHERE hash = ?', hash);
    return row && tokenMap.fromRow(row);
  }
  async listTokens(): Promise<TokenRecord[]> {
    return this.all('SELECT * FROM tokens ORDER BY created_at').map((r) => tokenMap.fromRow(r));
  }
  async revokeTokens(filter: { id?: string; name?: string; workerId?: string }, at: number): Promise<number> {
    const [column, value] = filter.id
      ? ['id', filter.id]
      : filter.name
        ? ['name', filter.name]
        : ['worker_id', filter.workerId];
    return this.stmt(`UPDATE tokens SET revoked_at = ? WHERE ${column} = ? AND revoked_at IS NULL`).run(at, value).changes;
  }

  async consumeTokenUse(id: string, at: number): Promise<boolean> {
    return (
      this.stmt(
        `UPDATE tokens SET uses_left = uses_left - 1, revoked_at = CASE WHEN uses_left = 1 THEN ? ELSE revoked_at END
         WHERE id = ? AND revoked_at IS NULL AND (uses_left IS NULL OR uses_left > 0) AND (expires_at IS NULL OR expires_at > ?)`,
      ).run(at, id, at).changes > 0
    );
  }

  // ---- browser sign-ins ----
  async insertSignIn(signIn: SignInRecord): Promise<void> {
    this.insert('sign_ins', signInMap.toRow(signIn));
  }
  async takeSignInCode(hash: string, at: number): Promise<SignInRecord | undefined> {
    const row = this.stmt(`DELETE FROM sign_ins WHERE hash = ? AND kind = 'code' AND expires_at > ? RETURNING *`).get(hash, at) as Row | undefined;
    return row && signInMap.fromRow(row);
  }
  async findSession(hash: string, at: number): Promise<SignInRecord | undefined> {
    const row = this.get(`SELECT * FROM sign_ins WHERE hash = ? AND kind = 'session' AND expires_at > ?`, hash, at);
    return row && signInMap.fromRow(row);
  }
  async deleteSession(hash: string): Promise<boolean> {
    return this.stmt(`DELETE FROM sign_ins WHERE hash = ? AND kind = 'session'`).run(hash).changes > 0;
  }
  async deleteExpiredSignIns(at: number): Promise<number> {
    return this.stmt('DELETE FROM sign_ins WHERE expires_at <= ?').run(at).changes;
  }

  // ---- workers ----
  async insertWorker(worker: WorkerRecord): Promise<void> {
    this.insert('workers', workerMap.toRow(worker));
  }
  async getWorker(id: string): Promise<WorkerRecord | undefined> {
    const row = this.get('SELECT * FROM workers WHERE id = ?', id);
    return row && workerMap.fromRow(row);
  }
  async listWorkers(): Promise<WorkerRecord[]> {
    return this.all('SELECT * FROM workers ORDER BY name, id').map((r) => workerMap.fromRow(r));
  }
  async updateWorker(id: string, patch: Partial<Omit<WorkerRecord, 'id'>>): Promise<void> {
    this.update('workers', { id }, workerMap.toRow(patch));
  }
  async deleteWorker(id: string): Promise<void> {
    this.stmt('DELETE FROM workers WHERE id = ?').run(id);
  }

  // ---- jobs ----
  async insertJob(job: NewJobRecord): Promise<JobRecord> {
    const labels_key = bucketKey(job.spec);
    const result = this.insert('jobs', { ...jobMap.toRow({ ...job, priority: job.spec.priority }), labels_key });
    if (job.state === 'queued') {
      this.stmt('INSERT OR IGNORE INTO queue_buckets (labels_key, submitted_by) VALUES (?, ?)').run(labels_key, job.submittedBy);
    }
    return { ...job, seq: Number(result.lastInsertRowid) };
  }
  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = this.get('SELECT * FROM jobs WHERE id = ?', id);
    return row && jobMap.fromRow(row);
  }
  async updateJob(id: string, patch: JobFields): Promise<void> {
    this.setJob(id, patch);
  }
  private setJob(id: string, patch: JobFields): void {
    this.update('jobs', { id }, jobMap.toRow(changeableFields(patch)));
    if (patch.state === 'queued') {
      this.stmt('INSERT OR IGNORE INTO queue_buckets (labels_key, submitted_by) SELECT labels_key, submitted_by FROM jobs WHERE id = ?').run(id);
    }
  }
  async listJobs(filter: JobListFilter): Promise<JobRecord[]> {
    const conds: string[] = [];
    const params: unknown[] = [];
    if (filter.states?.length) {
      conds.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      params.push(...filter.states);
    }
    if (filter.submittedBy !== undefined) {
      conds.push('submitted_by = ?');
      params.push(filter.submittedBy);
    }
    if (filter.groupId !== undefined) {
      conds.push('group_id = ?');
      params.push(filter.groupId);
    }
    if (filter.beforeSeq !== undefined) {
      conds.push('seq < ?');
      params.push(filter.beforeSeq);
    }
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    return this.all(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT ?`, ...params, filter.limit).map((r) =>
      jobMap.fromRow(r),
    );
  }
  async queueHeads(onlySubmitters?: readonly string[]): Promise<JobRecord[]> {
    const heads: JobRecord[] = [];
    // A worker without a sandbox takes only its trusted submitters' jobs: its heads are those of their jobs.
    const ofSubmitters = onlySubmitters ? ` WHERE submitted_by IN (${onlySubmitters.map(() => '?').join(',') || 'NULL'})` : '';
    for (const bucket of this.all(`SELECT labels_key, submitted_by FROM queue_buckets${ofSubmitters}`, ...(onlySubmitters ?? []))) {
      const head = this.get(
        `SELECT * FROM jobs INDEXED BY jobs_bucket WHERE state = 'queued' AND labels_key = ? AND submitted_by = ? ORDER BY priority DESC, seq LIMIT 1`,
        bucket.labels_key,
        bucket.submitted_by,
      );
      if (head) heads.push(jobMap.fromRow(head));
      else this.stmt('DELETE FROM queue_buckets WHERE labels_key = ? AND submitted_by = ?').run(bucket.labels_key, bucket.submitted_by);
    }
    return heads;
  }
  async putUsage(usage: UsageRecord): Promise<void> {
    this.stmt(
      `INSERT INTO usage (submitted_by, slot_seconds, at) VALUES (?, ?, ?)
       ON CONFLICT (submitted_by) DO UPDATE SET slot_seconds = excluded.slot_seconds, at = excluded.at`,
    ).run(usage.submitter, usage.slotSeconds, usage.at);
  }
  async chargeUsage(submitter: string, slotSeconds: number, at: number, halfLifeMs: number): Promise<void> {
    this.stmt(
      `INSERT INTO usage (submitted_by, slot_seconds, at) VALUES (?, ?, ?)
       ON CONFLICT (submitted_by) DO UPDATE SET
         slot_seconds = usage.slot_seconds * power(2, -MAX(0, excluded.at - usage.at) * 1.0 / ?) + excluded.slot_seconds,
         at = MAX(usage.at, excluded.at)`,
    ).run(submitter, slotSeconds, at, halfLifeMs);
  }
  async poolUsage(): Promise<PoolUsageRecord[]> {
    return this.all(
      `SELECT submitted_by, max(slot_seconds) AS slot_seconds, max(at) AS at, sum(running) AS running, sum(leased_at) AS leased_at_sum, max(leased_at) AS latest_leased_at
       FROM (SELECT submitted_by, slot_seconds, at, 0 AS running, 0 AS leased_at FROM usage
             UNION ALL
             SELECT j.submitted_by, 0, 0, 1, l.leased_at FROM leases l JOIN jobs j ON j.id = l.job_id WHERE l.status = 'active')
       GROUP BY submitted_by`,
    ).map(poolUsageRecord);
  }
  async jobsInFlight(): Promise<JobRecord[]> {
    return this.all(`SELECT * FROM jobs WHERE state IN ('leased', 'running', 'suspended')`).map((r) => jobMap.fromRow(r));
  }
  async countJobsByState(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const row of this.all('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state')) {
      counts[row.state as string] = row.n as number;
    }
    return counts;
  }

  async jobTimesSince(since: number, limit: number): Promise<JobTimes[]> {
    return this.all(
      'SELECT created_at, started_at, finished_at FROM jobs WHERE finished_at IS NULL OR finished_at >= ? ORDER BY seq LIMIT ?',
      since,
      limit,
    ).map((r) => ({ createdAt: r.created_at as number, startedAt: r.started_at as number | null, finishedAt: r.finished_at as number | null }));
  }

  async deleteJobsEndedBefore(cutoff: number, limit: number): Promise<string[]> {
    const ended = this.all(
      `SELECT id FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled', 'timed_out') AND finished_at < ? LIMIT ?`,
      cutoff,
      limit,
    );
    for (const { id } of ended) {
      for (const table of ['events', 'commands', 'leases']) this.stmt(`DELETE FROM ${table} WHERE job_id = ?`).run(id);
      this.stmt('DELETE FROM jobs WHERE id = ?').run(id);
    }
    return ended.map((row) => row.id as string);
  }
  async referencedBlobs(): Promise<string[]> {
    return this.all(
      `SELECT bundle_sha AS sha FROM jobs WHERE bundle_sha IS NOT NULL UNION SELECT artifacts_sha FROM jobs WHERE artifacts_sha IS NOT NULL`,
    ).map((r) => r.sha as string);
  }

  // ---- leases ----
  async insertLease(lease: LeaseRecord): Promise<void> {
    this.insert('leases', leaseMap.toRow(lease));
  }
  async getLease(id: string): Promise<LeaseRecord | undefined> {
    const row = this.get('SELECT * FROM leases WHERE id = ?', id);
    return row && leaseMap.fromRow(row);
  }
  async updateLease(id: string, patch: Partial<Omit<LeaseRecord, 'id'>>): Promise<void> {
    this.update('leases', { id }, leaseMap.toRow(patch));
  }
  async activeLeaseCounts(): Promise<Map<string, number>> {
    const rows = this.all(`SELECT worker_id, COUNT(*) AS n FROM leases WHERE status = 'active' GROUP BY worker_id`);
    return new Map(rows.map((r) => [r.worker_id as string, r.n as number]));
  }
  async activeLeasesOfWorker(workerId: string): Promise<LeaseRecord[]> {
    return this.all(`SELECT * FROM leases WHERE worker_id = ? AND status = 'active'`, workerId).map((r) =>
      leaseMap.fromRow(r),
    );
  }
  async attemptsOf(jobId: string): Promise<(LeaseRecord & { workerName: string | null })[]> {
    return this.all('SELECT l.*, w.name AS worker_name FROM leases l LEFT JOIN workers w ON w.id = l.worker_id WHERE l.job_id = ? ORDER BY l.attempt', jobId).map(
      (r) => ({ ...leaseMap.fromRow(r), workerName: (r.worker_name as string | null) ?? null }),
    );
  }
  async leasesOfJob(jobId: string): Promise<LeaseRecord[]> {
    return this.all('SELECT * FROM leases WHERE job_id = ? ORDER BY attempt', jobId).map((r) => leaseMap.fromRow(r));
  }
  async recentLeasesOfWorker(workerId: string, limit: number): Promise<LeaseRecord[]> {
    return this.all('SELECT * FROM leases WHERE worker_id = ? ORDER BY leased_at DESC LIMIT ?', workerId, limit).map((r) => leaseMap.fromRow(r));
  }
  async leaseTimeSince(since: number, until: number): Promise<LeaseTime[]> {
    const rows = this.all(
      `SELECT l.worker_id, j.submitted_by, SUM(MIN(COALESCE(l.ended_at, @until), @until) - MAX(l.leased_at, @since)) AS ms,
              COUNT(DISTINCT l.job_id) AS jobs
       FROM leases l JOIN jobs j ON j.id = l.job_id
       WHERE l.leased_at < @until AND (l.ended_at IS NULL OR l.ended_at > @since)
       GROUP BY l.worker_id, j.submitted_by`,
      { since, until },
    );
    return rows.map((r) => ({ workerId: r.worker_id as string, submittedBy: r.submitted_by as string, ms: r.ms as number, jobs: r.jobs as number }));
  }
  async renewLeases(workerIds: readonly string[], seenAt: number, expiresAt: number): Promise<void> {
    if (workerIds.length === 0) return;
    // JSON arrays keep one prepared statement for any batch size (SQLite's host parameters are limited).
    const ids = JSON.stringify(workerIds);
    this.stmt(`UPDATE leases SET expires_at = ? WHERE status = 'active' AND worker_id IN (SELECT value FROM json_each(?))`).run(expiresAt, ids);
    this.stmt(`UPDATE workers SET last_seen_at = ? WHERE id IN (SELECT value FROM json_each(?))`).run(seenAt, ids);
  }
  async currentJobs(workerId?: string): Promise<CurrentJob[]> {
    const sql = `SELECT l.worker_id, j.id, j.name, j.state FROM leases l JOIN jobs j ON j.id = l.job_id
       WHERE l.status = 'active'${workerId === undefined ? '' : ' AND l.worker_id = ?'} ORDER BY l.leased_at`;
    return (workerId === undefined ? this.all(sql) : this.all(sql, workerId)).map((r) => ({
      workerId: r.worker_id as string,
      id: r.id as string,
      name: r.name as string,
      state: r.state as CurrentJob['state'],
    }));
  }

  // ---- commands ----
  async upsertCommand(command: CommandRecord): Promise<void> {
    const row = commandRow(command);
    const keys = Object.keys(row);
    this.stmt(
      `INSERT INTO commands (${keys.join(', ')}) VALUES (${keys.map((k) => `@${k}`).join(', ')})
       ON CONFLICT (job_id, attempt, idx) DO UPDATE SET exit_code = excluded.exit_code, signal = excluded.signal,
       duration_ms = excluded.duration_ms`,
    ).run(row);
  }
  async commandsOf(jobId: string, attempt: number): Promise<CommandRecord[]> {
    return this.all('SELECT * FROM commands WHERE job_id = ? AND attempt = ? ORDER BY idx', jobId, attempt).map(
      commandFromRow,
    );
  }

  // ---- events ----
  async appendToStream(jobId: string, entries: readonly StreamEntry[], patch: JobFields = {}): Promise<{ ids: number[]; lastEventId: number }> {
    // Two statements, one step all the same: synchronous on the one connection, nothing runs between them.
    this.setJob(jobId, patch);
    const updated = this.get('UPDATE jobs SET last_event_id = last_event_id + ? WHERE id = ? RETURNING last_event_id', streamLength(entries), jobId);
    if (!updated) throw new Error(`no job ${jobId} to append to`);
    const events = placeEvents(jobId, entries, updated.last_event_id as number);
    for (const event of events) this.insert('events', { ...eventMap.toRow(event), bytes: 0 });
    return { ids: events.map((e) => e.id), lastEventId: updated.last_event_id as number };
  }
  async insertEvent(event: EventRecord): Promise<void> {
    this.insert('events', { ...eventMap.toRow(event), bytes: 0 });
  }
  async eventsAfter(jobId: string, afterId: number, limit: number): Promise<EventRecord[]> {
    return this.all('SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?', jobId, afterId, limit).map(
      (r) => eventMap.fromRow(r),
    );
  }
  async eventAtOrBefore(jobId: string, position: number): Promise<EventRecord | undefined> {
    const row = this.get('SELECT * FROM events WHERE job_id = ? AND id <= ? ORDER BY id DESC LIMIT 1', jobId, position);
    return row && eventMap.fromRow(row);
  }

  // ---- submit keys ----
  async claimSubmissionKey(record: SubmissionKeyRecord, liveSince: number): Promise<SubmissionKeyRecord | undefined> {
    const { changes } = this.stmt(
      `INSERT INTO submission_keys (submitted_by, idempotency_key, request_hash, job_id, group_id, created_at)
       VALUES (@submittedBy, @key, @requestHash, @jobId, @groupId, @createdAt)
       ON CONFLICT (submitted_by, idempotency_key) DO UPDATE SET request_hash = excluded.request_hash, job_id = excluded.job_id,
       group_id = excluded.group_id, created_at = excluded.created_at WHERE submission_keys.created_at < @liveSince`,
    ).run({ ...record, liveSince });
    if (changes > 0) return undefined;
    const row = this.get('SELECT * FROM submission_keys WHERE submitted_by = ? AND idempotency_key = ?', record.submittedBy, record.key)!;
    return submissionKeyOf(row);
  }
  async deleteSubmissionKeysBefore(cutoff: number): Promise<number> {
    return this.stmt('DELETE FROM submission_keys WHERE created_at < ?').run(cutoff).changes;
  }

  // ---- audit ----
  async insertAudit(entry: AuditRecord): Promise<void> {
    this.insert('audit', auditMap.toRow(entry));
  }
  async listAudit(filter: AuditFilter): Promise<AuditRow[]> {
    const conds: string[] = [];
    const params: unknown[] = [];
    const where = (sql: string, value: unknown) => {
      if (value === undefined) return;
      conds.push(sql);
      params.push(value);
    };
    where('actor = ?', filter.actor);
    where('action = ?', filter.action);
    where('at >= ?', filter.since);
    where('at < ?', filter.until);
    where('id < ?', filter.beforeId);
    const clause = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    return this.all(`SELECT * FROM audit ${clause} ORDER BY id DESC LIMIT ?`, ...params, filter.limit).map((r) => auditRowMap.fromRow(r));
  }
}

// The StoreOps are the async methods (the private helpers they use are synchronous).
for (const key of Object.getOwnPropertyNames(SqliteStore.prototype)) {
  const value = (SqliteStore.prototype as unknown as Record<string, unknown>)[key];
  if (key !== 'transaction' && key !== 'close' && typeof value === 'function' && value.constructor.name === 'AsyncFunction') STORE_OPS.add(key);
}
