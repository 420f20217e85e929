// HTTP API v1: the one contract between coordinator, agent, CLI and renderer.
// Runtime schemas (zod) validate what crosses the wire; the types are inferred from them.
import { z } from 'zod';
import { SECRET_MIN_LENGTH } from './secrets';

export const API_PREFIX = '/api/v1';

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
  claimWaitMsMax: 30_000,
  outputChunkBytes: 1024 * 1024,
  chunksPerCall: 256,
} as const;

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
  outputs: z.array(outputGlobSchema).max(32, 'at most 32 output globs').optional(),
  continueOnError: z.boolean().optional(),
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
  outputs: string[];
  continueOnError: boolean;
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
}

export interface JobList {
  jobs: Job[];
  /** Pass as `cursor` to get the next (older) page; null on the last page. */
  nextCursor: string | null;
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
});

// ---- workers ----

export const WORKER_STATES = ['idle', 'busy', 'suspended', 'paused', 'offline'] as const;
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
  state: WorkerState;
  /** Set by an admin: paused and draining workers take no new jobs; a drained worker leaves when idle. */
  adminState: WorkerAdminState;
  registeredAt: string;
  lastSeenAt: string;
  currentJobs: { id: string; name: string; state: JobState }[];
}

export interface RegisterWorkerResponse {
  worker: Worker;
  /** The worker's own bearer token; shown once, stored hashed. */
  token: string;
  heartbeatIntervalSec: number;
  leaseTtlSec: number;
}

export const heartbeatSchema = z.strictObject({
  state: reportedWorkerStateSchema.optional(),
});

export interface LeaseDirective {
  jobId: string;
  leaseId: string;
  /** cancelled: the submitter cancelled; timed_out: over timeoutSec; lost: the coordinator no longer holds this lease. */
  reason: 'cancelled' | 'timed_out' | 'lost';
}

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
});

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

export const outputChunksSchema = z.strictObject({
  chunks: z
    .array(
      z.strictObject({
        seq: z.number().int().min(0),
        stream: outputStreamSchema,
        data: z.string().max(LIMITS.outputChunkBytes),
      }),
    )
    .min(1)
    .max(LIMITS.chunksPerCall),
});
export type OutputChunks = z.infer<typeof outputChunksSchema>;

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
  exitCode: z.number().int().min(-(2 ** 31)).max(2 ** 32).nullable(),
  signal: text(32).nullable().optional(),
  durationMs: z.number().int().min(0).max(2 ** 53 - 1),
});

export const completeSchema = z.strictObject({
  outcome: z.enum(['succeeded', 'failed', 'cancelled', 'timed_out', 'error']),
  exitCode: z.number().int().min(-(2 ** 31)).max(2 ** 32).nullable().optional(),
  /** Set for outcome `error`: the job could not run (bad bundle, workspace failure). */
  error: text(4096).optional(),
  reason: z.enum(['bundle_invalid', 'worker_error']).optional(),
});
export type CompleteRequest = z.infer<typeof completeSchema>;

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
export interface OutputEvent {
  attempt: number;
  stream: OutputStream;
  text: string;
  seq: number;
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
/** Sent once where output past the per-job cap was dropped. */
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
