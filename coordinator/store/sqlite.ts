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
  JobListFilter,
  JobRecord,
  LeaseRecord,
  NewJobRecord,
  Store,
  StoreOps,
  TokenRecord,
  WorkerRecord,
} from './types';

const SCHEMA_VERSION = 4;

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

/**
 * A job's bucket: all that decides which workers may take it, so one head stands for the whole bucket: its labels,
 * sorted (labels hold no comma or space), and what it asks of a worker's isolation (network, a sandbox).
 */
const bucketKey = (spec: JobRecord['spec']) =>
  [...new Set(spec.labels)].sort().join(',') + (spec.network ? ' network' : '') + (spec.requireSandbox ? ' sandbox' : '');

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

const tokenMap = new Mapper<TokenRecord>(['id', 'name', 'role', 'hash', 'workerId', 'createdAt', 'revokedAt', 'expiresAt', 'usesLeft']);
const workerMap = new Mapper<WorkerRecord>(
  [
    'id', 'name', 'os', 'arch', 'cpus', 'memoryBytes', 'labels', 'slots', 'version', 'isolation', 'registeredAt', 'lastSeenAt',
    'reportedState', 'adminState',
  ],
  { labels: 'json', isolation: 'json' },
);
const jobMap = new Mapper<JobRecord & { priority: number }>(
  [
    'id', 'seq', 'name', 'state', 'reason', 'error', 'exitCode', 'spec', 'priority', 'bundleSha', 'bundleSize',
    'submittedBy', 'createdAt', 'queuedAt', 'startedAt', 'finishedAt', 'attempt', 'failures', 'workerId', 'leaseId',
    'cancelRequested', 'artifactsSha', 'artifactsSize', 'timeoutAt', 'outputHeadBytes', 'outputTailBytes',
    'outputDroppedBytes', 'lastEventId',
  ],
  { spec: 'json', cancelRequested: 'bool' },
);
const leaseMap = new Mapper<LeaseRecord>([
  'id', 'jobId', 'workerId', 'attempt', 'status', 'leasedAt', 'expiresAt', 'endedAt', 'nextSeq', 'stopReason',
]);
const commandMap = new Mapper<CommandRecord>([
  'jobId', 'attempt', 'index', 'command', 'exitCode', 'signal', 'startedAt', 'durationMs',
]);
const eventMap = new Mapper<EventRecord>(['jobId', 'id', 'type', 'attempt', 'data', 'bytes', 'part'], { data: 'json' });
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
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private queue: Promise<unknown> = Promise.resolve();
  /** The handle a transaction's `fn` gets: the store itself, unqueued (the transaction already holds the connection). */
  private readonly txHandle: this;
  private open = false;

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
    const migrations = [MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4];
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
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      } finally {
        this.open = false;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
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
    if (job.state === 'queued') this.stmt('INSERT OR IGNORE INTO queue_buckets (labels_key) VALUES (?)').run(labels_key);
    return { ...job, seq: Number(result.lastInsertRowid) };
  }
  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = this.get('SELECT * FROM jobs WHERE id = ?', id);
    return row && jobMap.fromRow(row);
  }
  async updateJob(id: string, patch: Partial<Omit<JobRecord, 'id' | 'seq'>>): Promise<void> {
    this.update('jobs', { id }, jobMap.toRow(patch));
    if (patch.state === 'queued') {
      this.stmt('INSERT OR IGNORE INTO queue_buckets (labels_key) SELECT labels_key FROM jobs WHERE id = ?').run(id);
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
    const ofSubmitters = onlySubmitters ? ` AND submitted_by IN (${onlySubmitters.map(() => '?').join(',') || 'NULL'})` : '';
    for (const { labels_key } of this.all('SELECT labels_key FROM queue_buckets')) {
      const head = this.get(
        `SELECT * FROM jobs INDEXED BY jobs_bucket WHERE state = 'queued' AND labels_key = ?${ofSubmitters} ORDER BY priority DESC, seq LIMIT 1`,
        labels_key,
        ...(onlySubmitters ?? []),
      );
      if (head) heads.push(jobMap.fromRow(head));
      else if (!onlySubmitters) this.stmt('DELETE FROM queue_buckets WHERE labels_key = ?').run(labels_key);
    }
    return heads;
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

  async deleteJobsEndedBefore(cutoff: number, limit: number): Promise<number> {
    const ended = this.all(
      `SELECT id FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled', 'timed_out') AND finished_at < ? LIMIT ?`,
      cutoff,
      limit,
    );
    for (const { id } of ended) {
      for (const table of ['events', 'commands', 'leases']) this.stmt(`DELETE FROM ${table} WHERE job_id = ?`).run(id);
      this.stmt('DELETE FROM jobs WHERE id = ?').run(id);
    }
    return ended.length;
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
  async insertEvent(event: EventRecord): Promise<void> {
    this.insert('events', eventMap.toRow(event));
  }
  async eventsAfter(jobId: string, afterId: number, limit: number): Promise<EventRecord[]> {
    return this.all('SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?', jobId, afterId, limit).map(
      (r) => eventMap.fromRow(r),
    );
  }
  async dropOldestTail(jobId: string, attempt: number, bytes: number): Promise<number> {
    const victims = this.all(
      `SELECT id, bytes FROM events WHERE job_id = ? AND attempt = ? AND part = 'tail' ORDER BY id LIMIT 1000`,
      jobId,
      attempt,
    );
    let freed = 0;
    let lastId = -1;
    for (const victim of victims) {
      if (freed >= bytes) break;
      freed += victim.bytes as number;
      lastId = victim.id as number;
    }
    if (lastId >= 0) {
      this.stmt(`DELETE FROM events WHERE job_id = ? AND attempt = ? AND part = 'tail' AND id <= ?`).run(
        jobId,
        attempt,
        lastId,
      );
    }
    return freed;
  }
  async outputOf(jobId: string, attempt: number, part: 'head' | 'tail', afterId: number, limit: number): Promise<EventRecord[]> {
    return this.all(
      `SELECT * FROM events WHERE job_id = ? AND attempt = ? AND part = ? AND id > ? ORDER BY id LIMIT ?`,
      jobId,
      attempt,
      part,
      afterId,
      limit,
    ).map((r) => eventMap.fromRow(r));
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
