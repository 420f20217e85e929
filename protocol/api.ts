// HTTP API v1: the one contract between coordinator, agent, CLI and renderer.
// Runtime schemas (zod) validate what crosses the wire; the types are inferred from them.
import { z } from 'zod';
import { SECRET_MIN_LENGTH } from './secrets';

export const API_PREFIX = '/api/v1';
/** The wire protocol's version: what a pool advertises on the LAN (and answers at /api/v1/pool). */
export const PROTOCOL_VERSION = 1;

// Our own wording where a schema gives none, for every side that validates (form, CLI, coordinator):
// "must be at most 1000", not zod's "Too big: expected number to be <=1000".
const UNITS: Record<string, string> = { string: 'character', array: 'item', set: 'item', file: 'byte' };
const KINDS: Record<string, string> = {
  int: 'a whole number',
  number: 'a number',
  string: 'text',
  array: 'a list',
  object: 'an object',
  boolean: 'true or false',
};
z.config({
  customError: (issue) => {
    if (issue.code === 'too_big' || issue.code === 'too_small') {
      const bound = Number(issue.code === 'too_big' ? issue.maximum : issue.minimum);
      const unit = UNITS[issue.origin];
      if (issue.code === 'too_small' && unit && bound === 1) return 'must not be empty';
      const inclusive = issue.inclusive !== false;
      const word = issue.code === 'too_big' ? (inclusive ? 'at most' : 'below') : inclusive ? 'at least' : 'above';
      return `must be ${word} ${bound}${unit ? ` ${unit}${bound === 1 ? '' : 's'}` : ''}`;
    }
    if (issue.code === 'invalid_type') return `must be ${KINDS[issue.expected] ?? issue.expected}`;
    // A record's bad key: what the key's own schema says of it ("… names are letters, digits and _").
    if (issue.code === 'invalid_key') return issue.issues[0]?.message;
    return undefined;
  },
});

/** Strings that reach a shell, a file name or a log line must not carry NUL. */
export const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\0'), 'must not contain NUL characters');

export const labelSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'labels are 1-64 characters of letters, digits, . _ : -');

/** A glob relative to the job's workspace; never absolute, never climbing out. */
export const outputGlobSchema = text(256)
  .min(1)
  .refine((g) => !g.startsWith('/') && !/^[A-Za-z]:/.test(g) && !g.split(/[\\/]/).includes('..'), {
    message: 'output globs are relative to the workspace and may not contain ..',
  });

export const envSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names are letters, digits and _'),
    text(32 * 1024),
  )
  .refine((env) => Object.keys(env).length <= 100, 'at most 100 environment variables');

/** Write-only values (name → value): seen by the job as env variables, never returned by the API, masked in output. */
export const secretsSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'secret names are letters, digits and _'),
    text(32 * 1024).min(SECRET_MIN_LENGTH, `a secret must be at least ${SECRET_MIN_LENGTH} characters (shorter ones would mask ordinary output)`),
  )
  .refine((secrets) => Object.keys(secrets).length <= 100, 'at most 100 secrets');

export const LIMITS = {
  commandsPerJob: 100,
  commandLength: 16 * 1024,
  maxTimeoutSec: 7 * 24 * 3600,
  maxAttempts: 10,
  maxRetries: 10,
  claimWaitMsMax: 30_000,
  outputChunkBytes: 1024 * 1024,
  chunksPerCall: 256,
  /** One raw-byte output upload (POST /leases/:id/output/bytes): the only route that takes a body this large. */
  outputUploadBytes: 64 * 1024 * 1024,
  /** Jobs one matrix submission may start (the product of its value lists), like a CI matrix's cap. */
  matrixJobs: 100,
  matrixKeys: 8,
  /** An Idempotency-Key is printable ASCII of up to this many characters (a UUID is 36)... */
  idempotencyKeyLength: 255,
  /** ...and answers the submit it made for this long; after that the key is forgotten (the retention sweep). */
  idempotencyKeyTtlSec: 24 * 3600,
} as const;

/**
 * The header of an idempotent submit (as Stripe's and GitHub's APIs): a key the client makes once per submit and
 * sends again with every resend of it. The same key from the same person answers the same job, whichever node
 * the resend reaches.
 */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const idempotencyKeySchema = z
  .string()
  .regex(
    new RegExp(`^[\\x21-\\x7e]{1,${LIMITS.idempotencyKeyLength}}$`),
    `${IDEMPOTENCY_KEY_HEADER} must be 1 to ${LIMITS.idempotencyKeyLength} printable ASCII characters without spaces, e.g. a UUID`,
  );

/** The env variable a matrix job reads its value of `name` from. */
export const MATRIX_ENV_PREFIX = 'CMDX_MATRIX_';

/**
 * Fan-out: each name's list of values; the submission becomes one job per combination (the cross product),
 * each with CMDX_MATRIX_<name> in its env, all in one group.
 */
export const matrixSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'matrix names are letters, digits and _ (they become CMDX_MATRIX_<name>)'),
    z
      .array(z.union([text(256), z.number(), z.boolean()]))
      .min(1, 'give at least one value')
      .transform((values) => values.map(String))
      .refine((values) => new Set(values).size === values.length, 'a value is listed twice'),
  )
  .superRefine((matrix, ctx) => {
    const names = Object.keys(matrix);
    if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'give at least one name with a list of values, e.g. {"n": [1, 2, 3]}' });
    if (names.length > LIMITS.matrixKeys) ctx.addIssue({ code: 'custom', message: `at most ${LIMITS.matrixKeys} names` });
    const jobs = matrixSize(matrix);
    if (jobs > LIMITS.matrixJobs) {
      const product = names.map((n) => matrix[n]!.length).join(' × ');
      ctx.addIssue({ code: 'custom', message: `${product} = ${jobs} jobs, more than the ${LIMITS.matrixJobs} one submission may start` });
    }
  });
export type Matrix = Record<string, string[]>;

/** How many jobs a matrix starts. */
export const matrixSize = (matrix: Matrix): number => Object.values(matrix).reduce((n, values) => n * values.length, 1);

/** Every combination of a matrix's values, the first name varying slowest (as CI matrices list them). */
export function matrixCells(matrix: Matrix): Record<string, string>[] {
  return Object.entries(matrix).reduce<Record<string, string>[]>(
    (cells, [name, values]) => cells.flatMap((cell) => values.map((value) => ({ ...cell, [name]: value }))),
    [{}],
  );
}

const MiB = (max: number, what: string) => z.number().int().min(1, `${what} is at least 1 MiB`).max(max);

/**
 * What one job may use on a worker. The worker's owner sets the defaults (DEFAULT_JOB_LIMITS of limits.ts unless told
 * otherwise); a job may ask for less of each, never more.
 */
export const jobLimitsSchema = z.strictObject({
  /** Resident memory (plus swap) of all the job's processes together. */
  memoryMiB: MiB(1024 * 1024, 'memoryMiB'),
  /** Processes and threads at once. */
  processes: z.number().int().min(8).max(1_000_000),
  /** Open files per process. */
  openFiles: z.number().int().min(16).max(1 << 20),
  /** The largest file a process may write. */
  fileSizeMiB: MiB(1024 * 1024 * 1024, 'fileSizeMiB'),
  /** Everything in the job's workspace, home and temp folder together. */
  diskMiB: MiB(1024 * 1024 * 1024, 'diskMiB'),
});
export type JobLimits = z.infer<typeof jobLimitsSchema>;

/** The worker's limits, each lowered where the job asks for less. */
export function effectiveLimits(worker: JobLimits, job: Partial<JobLimits> | undefined): JobLimits {
  const limits = { ...worker };
  for (const key of Object.keys(limits) as (keyof JobLimits)[]) {
    const asked = job?.[key];
    if (asked !== undefined) limits[key] = Math.min(asked, worker[key]);
  }
  return limits;
}

export const SANDBOX_KINDS = ['bubblewrap', 'seatbelt', 'none'] as const;
export type SandboxKind = (typeof SANDBOX_KINDS)[number];

/** How a worker contains the jobs it runs; reported at registration and shown in the pool. */
export const isolationSchema = z.strictObject({
  sandbox: z.enum(SANDBOX_KINDS),
  /** Whether its owner lets jobs reach the network (jobs asking `network: true` go only to such workers). */
  network: z.boolean(),
  limits: jobLimitsSchema,
});
export type Isolation = z.infer<typeof isolationSchema>;

/** Whether a worker's isolation is what a job asks for (network allowed, a sandbox): matched like labels. */
export const isolationFits = (isolation: Isolation | null, needs: { network: boolean; requireSandbox: boolean }) =>
  (!needs.network || isolation?.network === true) && (!needs.requireSandbox || (isolation !== null && isolation.sandbox !== 'none'));

export const jobSpecSchema = z.strictObject({
  commands: z
    .array(text(LIMITS.commandLength).refine((c) => c.trim().length > 0, 'a command may not be blank'))
    .min(1, 'give at least one command')
    .max(LIMITS.commandsPerJob, `at most ${LIMITS.commandsPerJob} commands`),
  name: text(200).optional(),
  shell: text(256).min(1).optional(),
  env: envSchema.optional(),
  secrets: secretsSchema.optional(),
  timeoutSec: z.number().int().min(1).max(LIMITS.maxTimeoutSec).optional(),
  labels: z.array(labelSchema).max(32, 'at most 32 labels').optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  maxAttempts: z.number().int().min(1).max(LIMITS.maxAttempts).optional(),
  /** Runs the job again after a failed command, up to this many times (lost workers are maxAttempts' part). */
  retries: z.number().int().min(0).max(LIMITS.maxRetries).optional(),
  outputs: z.array(outputGlobSchema).max(32, 'at most 32 output globs').optional(),
  continueOnError: z.boolean().optional(),
  /** The job needs the network: only workers whose owner allows it take the job. */
  network: z.boolean().optional(),
  /** Only a worker that runs jobs in a sandbox may take the job. */
  requireSandbox: z.boolean().optional(),
  /** Lower limits than the worker's (never higher). */
  limits: jobLimitsSchema.partial().optional(),
  matrix: matrixSchema.optional(),
});
export type JobSpec = z.infer<typeof jobSpecSchema>;

/** The spec as stored: every default filled in by the coordinator. */
export interface ResolvedJobSpec {
  commands: string[];
  name: string;
  shell: string | null;
  env: Record<string, string>;
  timeoutSec: number;
  labels: string[];
  priority: number;
  maxAttempts: number;
  retries: number;
  outputs: string[];
  continueOnError: boolean;
  network: boolean;
  requireSandbox: boolean;
  limits: Partial<JobLimits>;
  /** A matrix job's values (name → value; also in its env as CMDX_MATRIX_<name>); absent outside a group. */
  matrix?: Record<string, string>;
}

export const JOB_STATES = [
  'queued',
  'leased',
  'running',
  'suspended',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
] as const;
export const jobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof jobStateSchema>;
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];
export const isTerminal = (state: JobState): boolean => TERMINAL_STATES.includes(state);

/** Why a job ended the way it did (null while it is not over, and for `succeeded`). */
export type JobReason =
  | 'command_failed'
  | 'cancelled'
  | 'timed_out'
  | 'lost'
  | 'bundle_invalid'
  | 'worker_error'
  /** The job passed one of the worker's limits (memory, processes, disk); the error names it. */
  | 'limit_exceeded'
  | null;

export interface CommandResult {
  index: number;
  command: string;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  durationMs: number | null;
}

export interface JobAttempt {
  attempt: number;
  leaseId: string;
  workerId: string;
  workerName: string;
  leasedAt: string;
  endedAt: string | null;
  /** active | completed | expired | released | cancelled | timed_out */
  outcome: string;
}

export interface BundleRef {
  sha256: string;
  size: number;
}

export interface Job {
  id: string;
  name: string;
  state: JobState;
  reason: JobReason;
  error: string | null;
  exitCode: number | null;
  spec: ResolvedJobSpec;
  /** The names of the job's secrets; their values are never returned. */
  secretNames: string[];
  bundle: BundleRef | null;
  submittedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** How many leases have been handed out for this job. */
  attempt: number;
  workerId: string | null;
  workerName: string | null;
  cancelRequested: boolean;
  hasArtifacts: boolean;
  outputBytes: number;
  outputTruncated: boolean;
  commands: CommandResult[];
  attempts: JobAttempt[];
  /** Why a queued job is not picked up (no worker has its labels, all are busy…); null when it is not waiting. */
  waitingReason: string | null;
  /** The matrix submission this job is one of; null for a job submitted alone. */
  groupId: string | null;
}

/** A matrix submission's jobs and how far they are, like a CI run's matrix or HTCondor's cluster. */
export interface JobGroup {
  id: string;
  /** The submission's name (each job's name adds its values). */
  name: string;
  submittedBy: string;
  createdAt: string;
  /** Each name's values, in the order given. */
  matrix: Matrix;
  total: number;
  counts: Partial<Record<JobState, number>>;
  /** active while any job is not over; then succeeded if all did, else failed (or cancelled if none failed). */
  state: 'active' | 'succeeded' | 'failed' | 'cancelled';
  jobs: Job[];
}

/** What a submission answers: the job, or for a matrix the group of its jobs. */
export type Submitted = { job: Job; group?: undefined } | { group: JobGroup; job?: undefined };

export interface JobList {
  jobs: Job[];
  /** Pass as `cursor` to get the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** One person's use of the pool (fair share): decayed run time in slot-seconds, jobs running now, fraction of all. */
export interface PoolShare {
  submitter: string;
  slotSeconds: number;
  running: number;
  share: number;
}

export const listJobsQuerySchema = z.strictObject({
  state: z
    .union([jobStateSchema, z.string().regex(/^[a-z_]+(,[a-z_]+)*$/)])
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const states = s.split(',');
      for (const st of states) {
        if (!(JOB_STATES as readonly string[]).includes(st)) {
          ctx.addIssue({ code: 'custom', message: `unknown state "${st}"; use one of ${JOB_STATES.join(', ')}` });
          return z.NEVER;
        }
      }
      return states as JobState[];
    }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: text(200).optional(),
  mine: z.enum(['1', 'true', '0', 'false']).optional(),
  /** Only the jobs of this matrix submission. */
  group: text(64).optional(),
});

// ---- workers ----

/** unhealthy: the worker reported a problem of its own (a full disk) and takes no job until it is fixed. */
export const WORKER_STATES = ['idle', 'busy', 'suspended', 'paused', 'unhealthy', 'offline'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];
export const WORKER_ADMIN_STATES = ['active', 'paused', 'draining'] as const;
export type WorkerAdminState = (typeof WORKER_ADMIN_STATES)[number];
/** What an agent may say about itself; busy and offline are derived by the coordinator. */
export const reportedWorkerStateSchema = z.enum(['active', 'suspended', 'paused']);
export type ReportedWorkerState = z.infer<typeof reportedWorkerStateSchema>;

/** Shown in terminals and tables: no control characters (escape sequences could rewrite what a person sees). */
const isControl = (code: number) => code < 0x20 || (code >= 0x7f && code <= 0x9f);
const displayText = (max: number) =>
  text(max).refine((s) => ![...s].some((c) => isControl(c.codePointAt(0)!)), 'must not contain control characters');

export const registerWorkerSchema = z.strictObject({
  name: displayText(128).min(1),
  os: displayText(64).min(1),
  arch: displayText(32).min(1).optional(),
  cpus: z.number().int().min(1).max(4096).optional(),
  memoryBytes: z.number().int().min(0).max(2 ** 53 - 1).optional(),
  labels: z.array(labelSchema).max(64).optional(),
  slots: z.number().int().min(1).max(256).optional(),
  version: displayText(64).optional(),
  /** The worker protocol the agent speaks (protocol/versions.ts); agents that do not say speak 1. */
  protocolVersion: z.number().int().min(0).max(10_000).optional(),
  isolation: isolationSchema.optional(),
});
export type RegisterWorkerRequest = z.infer<typeof registerWorkerSchema>;

export interface Worker {
  id: string;
  name: string;
  os: string;
  arch: string | null;
  cpus: number | null;
  memoryBytes: number | null;
  labels: string[];
  slots: number;
  version: string | null;
  /** The worker protocol it speaks (null: an agent from before it said, protocol 1). */
  protocolVersion: number | null;
  /** Why it should be updated ("1.3.0; 1.4.0 is published"), null when it is current or nothing is published. */
  outdated?: string | null;
  /** How it contains jobs; null for an agent that did not say (it is treated as not sandboxed). */
  isolation: Isolation | null;
  state: WorkerState;
  /** Why an unhealthy worker takes no job, in its own words ("the disk holding /srv/cmdx is full …"). */
  problem?: string;
  /** Set by an admin: paused and draining workers take no new jobs; a drained worker leaves when idle. */
  adminState: WorkerAdminState;
  registeredAt: string;
  lastSeenAt: string;
  currentJobs: { id: string; name: string; state: JobState }[];
}

/**
 * How lists show a worker that went offline: as usual at first (a restart is short), faded after a while, and
 * left out after longer (BOINC and CI runner lists keep them forever, which buries the live ones).
 */
export const OFFLINE_WORKERS = { fadeAfterMs: 10 * 60_000, hideAfterMs: 24 * 3600_000 } as const;

/** A worker's page: the worker and its latest jobs (an attempt each), newest first. */
export interface WorkerDetail {
  worker: Worker;
  recentJobs: {
    id: string;
    name: string;
    state: JobState;
    submittedBy: string;
    attempt: number;
    leasedAt: string;
    endedAt: string | null;
    /** The lease's end: active | completed | expired | released | cancelled | timed_out */
    outcome: string;
  }[];
}

export const USAGE_WINDOWS = { day: 24 * 3600_000, week: 7 * 24 * 3600_000 } as const;
export type UsageWindow = keyof typeof USAGE_WINDOWS;
export const usageQuerySchema = z.strictObject({
  window: z.enum(Object.keys(USAGE_WINDOWS) as [UsageWindow, ...UsageWindow[]], 'window is day or week').default('week'),
});

/**
 * CPU-hours over a window: the time each job held a slot of a PC (lease start to end, clipped to the window),
 * as one slot each, what BOINC calls credit. Per PC (contributed) and per person (used), most first.
 */
export interface PoolUsage {
  window: UsageWindow;
  since: string;
  until: string;
  byWorker: { workerId: string; name: string; cpuHours: number; jobs: number }[];
  byPerson: { name: string; cpuHours: number; jobs: number }[];
}

/** Queued and running jobs over the last hours, sampled at even steps: the pool's recent load at a glance. */
export interface PoolActivity {
  stepMs: number;
  points: { at: string; queued: number; running: number }[];
}
export const ACTIVITY = { hours: 6, stepMs: 10 * 60_000, maxJobs: 100_000 } as const;

export interface RegisterWorkerResponse {
  worker: Worker;
  /** The worker's own bearer token; shown once, stored hashed. */
  token: string;
  heartbeatIntervalSec: number;
  leaseTtlSec: number;
}

export const heartbeatSchema = z.strictObject({
  state: reportedWorkerStateSchema.optional(),
  /** A problem of the worker's own that keeps it from running jobs; null once it is gone. */
  problem: text(2000).nullable().optional(),
});

export interface LeaseDirective {
  jobId: string;
  leaseId: string;
  /** cancelled: the submitter cancelled; timed_out: over timeoutSec; lost: the coordinator no longer holds this lease. */
  reason: 'cancelled' | 'timed_out' | 'lost';
}

/** The error code of output sent for a lease after its job was cancelled or timed out: the agent sends no more. */
export const OUTPUT_CLOSED = 'output_closed';
/** The error code of output that does not follow what the coordinator committed: resend from the committed position. */
export const SEQ_GAP = 'seq_gap';

/** Server-sent events on a worker's control stream (GET /workers/:id/control). */
export const CONTROL_EVENTS = { stop: 'stop' } as const;

export interface HeartbeatResponse {
  /** Leases the agent must stop (kill the process tree) and then complete or drop. */
  stop: LeaseDirective[];
  leases: { leaseId: string; jobId: string; expiresAt: string }[];
  heartbeatIntervalSec: number;
}

export const claimSchema = z.strictObject({
  waitMs: z.number().int().min(0).max(LIMITS.claimWaitMsMax).optional(),
  /**
   * Only jobs that require all of these labels: a desktop agent whose owner paused contribution still takes
   * the jobs pinned to it (`host:<name>`, the "This PC" target).
   */
  onlyLabels: z.array(labelSchema).max(8).optional(),
  /** Only jobs these submitters sent: a worker without a sandbox runs only its owner's trusted colleagues' jobs. */
  onlySubmitters: z.array(text(200).min(1)).max(100).optional(),
});

/** Which jobs a claim may take (see claimSchema). */
export type ClaimFilter = Omit<z.infer<typeof claimSchema>, 'waitMs'>;

export interface Assignment {
  job: {
    id: string;
    name: string;
    attempt: number;
    spec: ResolvedJobSpec;
    /** For the worker holding this lease only: added to the job's env, masked in its output. */
    secrets: Record<string, string>;
    bundle: BundleRef | null;
  };
  lease: { id: string; expiresAt: string; ttlSec: number };
  /** GET this (with the worker token) to fetch the job's ZIP; null when the job has none. */
  bundleUrl: string | null;
}

export interface ClaimResponse extends Assignment {
  /** Leases the agent must stop, piggy-backed so a busy agent learns of cancels without waiting. */
  stop: LeaseDirective[];
}

// ---- lease calls ----

export const outputStreamSchema = z.enum(['stdout', 'stderr']);
export type OutputStream = z.infer<typeof outputStreamSchema>;

const exitCodeSchema = z.number().int().min(-(2 ** 31)).max(2 ** 32).nullable();
const durationMsSchema = z.number().int().min(0).max(2 ** 53 - 1);

/** Output the job printed, one numbered piece of one stream. */
export const outputDataChunkSchema = z.strictObject({
  seq: z.number().int().min(0),
  stream: outputStreamSchema,
  data: z.string().max(LIMITS.outputChunkBytes),
});

/**
 * A command's start or end, numbered in the same sequence as the output around it: order is kept by the
 * number, and a resent record (below the coordinator's next seq) is ignored like resent output.
 */
export const commandRecordSchema = z.strictObject({
  seq: z.number().int().min(0),
  command: z.discriminatedUnion('phase', [
    z.strictObject({ phase: z.literal('start'), index: z.number().int().min(0).max(LIMITS.commandsPerJob - 1) }),
    z.strictObject({
      phase: z.literal('end'),
      index: z.number().int().min(0).max(LIMITS.commandsPerJob - 1),
      exitCode: exitCodeSchema,
      signal: text(32).nullable().optional(),
      durationMs: durationMsSchema,
    }),
  ]),
});
export type CommandRecordChunk = z.infer<typeof commandRecordSchema>;

/** The job's numbered stream: output and command records (protocol v1 grows: records may stand beside output). */
const streamChunksSchema = z
  .array(z.union([outputDataChunkSchema, commandRecordSchema]))
  .max(LIMITS.chunksPerCall);

export const outputChunksSchema = z.strictObject({ chunks: streamChunksSchema.min(1) });
export type OutputChunks = z.infer<typeof outputChunksSchema>;
export type StreamChunk = OutputChunks['chunks'][number];
export type OutputDataChunk = z.infer<typeof outputDataChunkSchema>;
/** An output chunk (its data as text from JSON, or as bytes from a raw upload) rather than a command record. */
export const isOutputData = <C extends { seq: number }>(chunk: C): chunk is Extract<C, { data: unknown }> => 'data' in chunk;

/**
 * A run of output bytes of one stream, sent raw as the body of POST /leases/:id/output/bytes: the chunks numbered
 * from `seq`, their byte lengths in order in `sizes` (comma-separated), their bytes back to back in the body.
 */
export const outputBytesQuerySchema = z.strictObject({
  // Decimal digits only: a coerced number would read an empty or blank seq as 0 and `0x10` as 16.
  seq: z.string().regex(/^\d{1,15}$/, 'must be a whole number, e.g. 0').transform(Number),
  stream: outputStreamSchema,
  sizes: z
    .string()
    .regex(/^[1-9]\d{0,8}(,[1-9]\d{0,8})*$/, 'give the byte length of each chunk, comma-separated (e.g. 65536,1200)')
    .transform((list) => list.split(',').map(Number))
    .refine((sizes) => sizes.length <= LIMITS.chunksPerCall, `at most ${LIMITS.chunksPerCall} chunks per upload`)
    .refine((sizes) => sizes.every((size) => size <= LIMITS.outputChunkBytes), `a chunk holds at most ${LIMITS.outputChunkBytes} bytes`)
    .refine((sizes) => sizes.reduce((sum, size) => sum + size, 0) <= LIMITS.outputUploadBytes, `an upload holds at most ${LIMITS.outputUploadBytes} bytes`),
});
export type OutputBytesQuery = z.input<typeof outputBytesQuerySchema>;

export interface OutputAck {
  /** The next sequence number the coordinator expects; chunks below it were already stored. */
  nextSeq: number;
}

export const leaseStateSchema = z.strictObject({
  state: z.enum(['running', 'suspended']),
});

export const commandStartSchema = z.strictObject({
  command: text(LIMITS.commandLength).optional(),
});

export const commandEndSchema = z.strictObject({
  exitCode: exitCodeSchema,
  signal: text(32).nullable().optional(),
  durationMs: durationMsSchema,
});

export const completeSchema = z.strictObject({
  outcome: z.enum(['succeeded', 'failed', 'cancelled', 'timed_out', 'error']),
  exitCode: exitCodeSchema.optional(),
  /** Set for outcome `error`: the job could not run (bad bundle, workspace failure). */
  error: text(4096).optional(),
  reason: z.enum(['bundle_invalid', 'worker_error', 'limit_exceeded']).optional(),
  /**
   * How long the commands ran, on the worker's monotonic clock (the one its per-command durations use): the
   * job's start is set this long before its end, so the job never "took" less than its own commands.
   */
  durationMs: durationMsSchema.optional(),
  /** The last of the job's stream not yet sent (output and command records), stored before the result. */
  output: streamChunksSchema.optional(),
  /**
   * Ask for the next job in the same call (the claim's filter and wait); null: none wanted. Either way the
   * answer is a CompleteResponse (the job's id and state, and `next`) instead of the whole job.
   */
  next: claimSchema.nullable().optional(),
});
export type CompleteRequest = z.infer<typeof completeSchema>;

/** The answer to a complete that said `next`: the acknowledgement and the next assignment, or null for none. */
export interface CompleteResponse {
  job: { id: string; state: JobState };
  next: ClaimResponse | null;
}

export const releaseSchema = z.strictObject({
  reason: z.enum(['vacated', 'shutdown']),
});

// ---- events (SSE) ----

export interface StateEvent {
  state: JobState;
  attempt: number;
  reason: JobReason;
  exitCode: number | null;
  workerId: string | null;
  workerName: string | null;
  error: string | null;
}
/** Output of one stream; the frame's id is the stream position after it, `offset` its first byte's in the attempt. */
export interface OutputEvent {
  attempt: number;
  stream: OutputStream;
  text: string;
  offset: number;
}
export interface CommandEvent {
  attempt: number;
  index: number;
  phase: 'start' | 'end';
  command: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
}
/** Sent where a reader's output skips the bytes the per-attempt cap dropped (`droppedBytes` of them). */
export interface TruncatedEvent {
  attempt: number;
  droppedBytes: number;
  message: string;
}
export type JobEvent =
  | { id: number; type: 'state'; data: StateEvent }
  | { id: number; type: 'output'; data: OutputEvent }
  | { id: number; type: 'command'; data: CommandEvent }
  | { id: number; type: 'truncated'; data: TruncatedEvent };
export type JobEventType = JobEvent['type'];

// ---- tokens ----

export const ROLES = ['admin', 'submit', 'worker', 'join'] as const;
export type Role = (typeof ROLES)[number];

/** Who a token is to the pool (GET /api/v1/me): its name (a job's `submittedBy`) and role. */
export interface Caller {
  name: string;
  role: Role;
}

/** Whether the caller may cancel, re-run, read the env of or download from a job (or group): its owner or an admin. */
export const mayActOn = (caller: Caller, job: { submittedBy: string }): boolean => caller.role === 'admin' || job.submittedBy === caller.name;

export interface ErrorBody {
  error: { code: string; message: string };
}

// ---- sign-in, audit, enrollment ----

export const signInSchema = z.strictObject({ code: text(200).min(1, 'give the code from the sign-in link') });
export interface SignInResponse {
  token: string;
  expiresAt: string;
}

export const createInviteSchema = z.strictObject({
  uses: z.number().int().min(1).max(1000).optional(),
  expiresInSec: z.number().int().min(60).max(30 * 24 * 3600).optional(),
});
export interface Invite {
  id: string;
  usesLeft: number | null;
  expiresAt: string | null;
  createdAt: string;
}
export interface CreatedInvite extends Invite {
  /** The enrollment code: shown once. */
  code: string;
  /** What to run on the new worker (the code comes from the environment, never the command line). */
  command: string;
  /** SHA-256 of the coordinator's TLS certificate, for the worker to pin; null over plain HTTP. */
  fingerprint: string | null;
  /** `cmdx://join?url=…&code=…&fp=…`: opens the desktop app, which asks its owner to join. Null over plain HTTP. */
  link: string | null;
  /** The coordinator's https page showing the link and its QR code, for as long as the invite lives. Null over plain HTTP. */
  page: string | null;
}

export const auditQuerySchema = z.strictObject({
  actor: text(200).optional(),
  action: text(100).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  cursor: z.string().regex(/^\d{1,15}$/, 'cursor is a nextCursor this server gave out').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export interface AuditEntry {
  id: number;
  at: string;
  /** A person (token name), `worker:<name>`, an invite, or `anonymous` for failed authentication. */
  actor: string;
  role: string;
  action: string;
  target: string | null;
  ip: string | null;
}
export interface AuditPage {
  entries: AuditEntry[];
  nextCursor: string | null;
}
