// The desktop app's IPC contract: the one typed channel map shared by Electron main (handlers, validation),
// preload (the `window.cmdx` bridge) and the renderer (its types).
//
// How the renderer reaches the coordinator in the desktop window: the window is served from `app://cmdx/` and the
// main process proxies `app://cmdx/api/v1/*` to the coordinator this PC uses (the configured one, or the pool it
// hosts), adding this PC's token when a request carries none. So the renderer uses `location.origin` as the API base
// exactly as in a browser served by the coordinator, and the strict CSP needs no coordinator address in it.
import { z } from 'zod';
import { labelSchema, type SandboxKind } from './api';
import type { DiscoveredPool } from './pool-record';
import { parseSchedule } from './schedule';

// ---- settings (persisted as JSON in userData; main owns the file, the renderer edits through settings:set) ----

const httpUrlSchema = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// address without credentials, like http://pool-pc:8787');

const tokenSchema = z
  .string()
  .max(512, 'tokens are at most 512 characters')
  .regex(/^[\x21-\x7e]*$/, 'tokens are printable characters without spaces');

export const windowBoundsSchema = z.strictObject({
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int().min(200).max(20_000),
  height: z.number().int().min(200).max(20_000),
  maximized: z.boolean(),
});
export type WindowBounds = z.infer<typeof windowBoundsSchema>;

export const SETTINGS_VERSION = 1;

/** Nodes of one pool a PC lists: a few coordinators behind one database, not a directory of pools. */
export const MAX_COORDINATOR_URLS = 16;

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, '');

/** Unknown keys are dropped (not an error) so a file written by a newer minor version still loads. */
export const settingsSchema = z.object({
  version: z.literal(SETTINGS_VERSION).default(SETTINGS_VERSION),
  /**
   * The pool to submit to and contribute to: its coordinator nodes (one database), tried in this order, the next
   * one when a node cannot be reached; empty = none yet. Ignored while this PC hosts the pool.
   */
  coordinatorUrls: z
    .array(httpUrlSchema)
    .max(MAX_COORDINATOR_URLS, `at most ${MAX_COORDINATOR_URLS} coordinator addresses`)
    .superRefine((urls, ctx) => {
      const seen = new Set<string>();
      for (const url of urls) {
        const key = withoutTrailingSlash(url);
        if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `${url} is listed twice` });
        seen.add(key);
      }
    })
    .default([]),
  /** Submit token for the API calls of this PC's user. */
  token: tokenSchema.default(''),
  /** Join token that lets this PC's agent register as a worker. */
  joinToken: tokenSchema.default(''),
  /** SHA-256 of the coordinator's TLS certificate (from its invite or banner): the app trusts exactly that one. */
  coordinatorFingerprint: z
    .union([z.literal(''), z.string().regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, 'a SHA-256 fingerprint is 64 hex digits')])
    .default(''),
  /** Run the coordinator in this app, reachable from the LAN on hostPort (0 = any free port). */
  hostPool: z.boolean().default(false),
  hostPort: z.number().int().min(0).max(65_535).default(8787),
  contributeWhenIdle: z.boolean().default(false),
  idleMinutes: z.number().int().min(1).max(240).default(5),
  onlyOnAC: z.boolean().default(true),
  maxOthersCpuPercent: z.number().int().min(1).max(100).default(25),
  /** Dedicated PCs: contribute regardless of keyboard, screen lock and other programs' load. */
  alwaysContribute: z.boolean().default(false),
  slots: z.number().int().min(1).max(64).default(1),
  labels: z.array(labelSchema).max(32).default([]),
  /** Let pool jobs that ask for it (`network: true`) use the network; others never get it. */
  allowNetwork: z.boolean().default(false),
  /**
   * Where no sandbox runs (macOS, Windows, Linux without bubblewrap): the submitters (token names) whose jobs this
   * PC runs; no one else's. `*` = everyone.
   */
  trustedSubmitters: z.array(z.string().min(1).max(200).regex(/^[^\s,\0]+$/, 'names without spaces or commas')).max(100).default([]),
  /** The worker name colleagues see; empty = the computer's host name. */
  workerName: z.string().max(128).regex(/^[^\0\r\n]*$/, 'one line of text').default(''),
  /** When this PC may contribute, a weekly schedule in local time ("weekdays 18:00-08:00, weekends"); empty: any time. */
  contributeHours: z
    .string()
    .max(500)
    .superRefine((text, ctx) => {
      const parsed = parseSchedule(text);
      if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
    })
    .default(''),
  /** "Pause for 1 hour": no contribution until then (ISO time), null = not paused. */
  pausedUntil: z.iso.datetime({ offset: true }).nullable().default(null),
  windowBounds: windowBoundsSchema.nullable().default(null),
});
export type Settings = z.infer<typeof settingsSchema>;

/**
 * A settings file as this version reads it: files written before the list of coordinators hold one address in
 * `coordinatorUrl`, which becomes a list of one (or none when it was empty).
 */
export function migrateSettings(data: unknown): unknown {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || !('coordinatorUrl' in data)) return data;
  const { coordinatorUrl, ...rest } = data as Record<string, unknown>;
  if ('coordinatorUrls' in rest) return rest;
  return { ...rest, coordinatorUrls: coordinatorUrl === '' ? [] : [coordinatorUrl] };
}

/**
 * The coordinator addresses as a person types them (one per line, or comma-separated), each checked: the list,
 * or what is wrong with which address in words for the settings form.
 */
export function parseCoordinatorUrls(text: string): { urls: string[] } | { error: string } {
  const urls = text.split(/[\s,]+/).filter(Boolean);
  const parsed = settingsSchema.shape.coordinatorUrls.safeParse(urls);
  if (parsed.success) return { urls: parsed.data };
  const issue = parsed.error.issues[0]!;
  const at = issue.path[0];
  return { error: typeof at === 'number' ? `"${urls[at]}" ${issue.message}` : issue.message };
}

/** What the renderer may change (pausedUntil and windowBounds belong to their own controls). Built from the fields
 * without their defaults: a patch must not reset the fields it leaves out. */
const field = settingsSchema.shape;
export const settingsPatchSchema = z.strictObject({
  coordinatorUrls: field.coordinatorUrls.unwrap().optional(),
  coordinatorFingerprint: field.coordinatorFingerprint.unwrap().optional(),
  token: field.token.unwrap().optional(),
  joinToken: field.joinToken.unwrap().optional(),
  hostPool: field.hostPool.unwrap().optional(),
  hostPort: field.hostPort.unwrap().optional(),
  contributeWhenIdle: field.contributeWhenIdle.unwrap().optional(),
  idleMinutes: field.idleMinutes.unwrap().optional(),
  onlyOnAC: field.onlyOnAC.unwrap().optional(),
  maxOthersCpuPercent: field.maxOthersCpuPercent.unwrap().optional(),
  alwaysContribute: field.alwaysContribute.unwrap().optional(),
  contributeHours: field.contributeHours.unwrap().optional(),
  slots: field.slots.unwrap().optional(),
  labels: field.labels.unwrap().optional(),
  workerName: field.workerName.unwrap().optional(),
  allowNetwork: field.allowNetwork.unwrap().optional(),
  trustedSubmitters: field.trustedSubmitters.unwrap().optional(),
});
export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

// ---- live state of this PC (pushed on every change) ----

export type ContributionAction = 'run' | 'suspend' | 'vacate' | 'stop';

export interface ContributionStatus {
  enabled: boolean;
  alwaysContribute: boolean;
  pausedUntil: string | null;
  /** What the idle policy decided last, and why, in words for the user. */
  action: ContributionAction;
  reason: string;
}

/** The embedded agent's own status (the shape of the agent's `status()`). */
export interface LocalAgentStatus {
  state: 'starting' | 'idle' | 'busy' | 'suspended' | 'paused' | 'disconnected' | 'stopped';
  workerId: string | null;
  /** This PC's worker name; a job pinned to this PC carries the label `host:<name>`. */
  name: string;
  connected: boolean;
  /** How it contains jobs, once it has started (null before); `none`: "not sandboxed". */
  sandbox: SandboxKind | null;
  /** Why this PC's worker takes no job (e.g. its disk is full); null while healthy. */
  problem: string | null;
  /** The agent's own phase of each job it holds. */
  jobs: { id: string; name: string; state: 'preparing' | 'running' | 'suspended' | 'stopping' | 'reporting'; leaseId: string }[];
}

export interface PoolInfo {
  /** What colleagues enter to join: the LAN address(es) of this PC and the join token. */
  urls: string[];
  joinToken: string;
  /** A submit token to hand to colleagues who only submit. */
  submitToken: string;
  /** SHA-256 of the pool's TLS certificate, for colleagues to pin (null when it serves plain HTTP). */
  fingerprint?: string | null;
}

export interface DesktopStatus {
  contribution: ContributionStatus;
  agent: LocalAgentStatus;
  /** Set while this PC hosts the pool. */
  pool: PoolInfo | null;
  connection: {
    /** The coordinator nodes behind app://cmdx/api/v1, in the order tried (none when none is configured yet). */
    coordinatorUrls: string[];
    hosting: boolean;
    /** Why the app cannot work normally, in words for the user (no coordinator set, host failed, ...). */
    problem: string | null;
  };
  /** Something the user should know since this start, e.g. "the settings file was invalid and was reset (backup: ...)". */
  notice: string | null;
}

// ---- dialogs ----

export interface PickedFile {
  name: string;
  size: number;
  bytes: Uint8Array;
}

/** A folder's regular files (links skipped), for the renderer to zip exactly as it zips a dropped folder. */
export interface PickedFolder {
  name: string;
  files: { path: string; bytes: Uint8Array }[];
}

export const PICK_LIMITS = { maxBytes: 512 * 1024 * 1024, maxFiles: 20_000 } as const;

// ---- the channel maps ----

const noArgs = z.strictObject({});

/** `request` validates the one argument object; `result` only carries the reply's type: `channel<Result>()(schema)`. */
const channel =
  <Result>() =>
  <Request extends z.ZodType>(request: Request) => ({ request, result: undefined as Result });

export const invokeChannels = {
  'settings:get': channel<Settings>()(noArgs),
  'settings:set': channel<Settings>()(settingsPatchSchema),
  /** The whole live state: contribution, local agent, hosted pool (join info), connection. */
  'status:get': channel<DesktopStatus>()(noArgs),
  'contribution:set': channel<DesktopStatus>()(z.strictObject({ enabled: z.boolean() })),
  /** minutes 0 ends a pause. */
  'contribution:pause': channel<DesktopStatus>()(z.strictObject({ minutes: z.number().int().min(0).max(7 * 24 * 60) })),
  'dialog:pick-file': channel<PickedFile | null>()(noArgs),
  'dialog:pick-folder': channel<PickedFolder | null>()(noArgs),
  'logs:open': channel<void>()(noArgs),
  /** The pools announced on the LAN (DNS-SD), listened for a moment: joining one still takes an enrollment code. */
  'pools:discover': channel<DiscoveredPool[]>()(noArgs),
  /** A pasted invite link: opened as if clicked (checked, confirmed by the owner in a native dialog, joined). */
  'invite:open': channel<void>()(z.strictObject({ link: z.string().min(1).max(4096) })),
  'clipboard:write-text': channel<void>()(z.strictObject({ text: z.string().max(64 * 1024) })),
  /** Notify the user when this job ends (the main process follows its events). */
  'jobs:watch': channel<void>()(z.strictObject({ jobId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a job id') })),
  /** Notify the user once when this matrix submission's last job ends. */
  'groups:watch': channel<void>()(z.strictObject({ groupId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a group id') })),
  /** The renderer's log lines go to the app's log file. */
  'log:write': channel<void>()(
    z.strictObject({ level: z.enum(['info', 'warn', 'error']), message: z.string().max(16 * 1024) }),
  ),
} as const;

export type InvokeChannel = keyof typeof invokeChannels;
export type InvokeRequest<C extends InvokeChannel> = z.input<(typeof invokeChannels)[C]['request']>;
export type InvokeResult<C extends InvokeChannel> = (typeof invokeChannels)[C]['result'];

/** What every handler answers over the wire; preload turns `error` back into a thrown Error. */
export type IpcReply<T> = { error: null; result: T } | { error: { code: string; message: string }; result: null };

/** main → renderer. */
export interface PushChannels {
  'status:changed': DesktopStatus;
  /** The user clicked a "job finished" notification. */
  'job:open': { jobId: string };
  /** The user clicked a "matrix finished" notification. */
  'group:open': { groupId: string };
  /** The settings changed outside the window (an invite link was confirmed). */
  'settings:changed': Settings;
}
export type PushChannel = keyof PushChannels;

/** `window.cmdx` in the desktop window (absent in a browser: feature-detect it). */
export interface CmdxApi {
  getSettings(): Promise<Settings>;
  updateSettings(patch: SettingsPatch): Promise<Settings>;
  getStatus(): Promise<DesktopStatus>;
  setContribution(enabled: boolean): Promise<DesktopStatus>;
  /** Pause contributing for `minutes` (60 = the tray's "Pause for 1 hour"); 0 resumes. */
  pauseContribution(minutes: number): Promise<DesktopStatus>;
  pickFile(): Promise<PickedFile | null>;
  pickFolder(): Promise<PickedFolder | null>;
  openLogs(): Promise<void>;
  copyText(text: string): Promise<void>;
  discoverPools(): Promise<DiscoveredPool[]>;
  openInvite(link: string): Promise<void>;
  watchJob(jobId: string): Promise<void>;
  watchGroup(groupId: string): Promise<void>;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Returns a function that unsubscribes. */
  onStatus(listener: (status: DesktopStatus) => void): () => void;
  onOpenJob(listener: (jobId: string) => void): () => void;
  onOpenGroup(listener: (groupId: string) => void): () => void;
  onSettings(listener: (settings: Settings) => void): () => void;
}

/** The scheme and host the desktop window is served from. */
export const APP_ORIGIN = 'app://cmdx';
