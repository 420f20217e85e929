// The pool's abuse limits and trust defaults, in one place: the coordinator's flags default to these and the
// README quotes them. Plain values (no schema library): a command line's --help shows them without loading one.
import type { JobLimits } from './api';

/**
 * What a worker lets one job use unless its owner says otherwise (see jobLimitsSchema in api.ts). Processes
 * counts threads too (a JVM build runs hundreds); a fork bomb still stops far below the PC's own limit.
 */
export const DEFAULT_JOB_LIMITS: JobLimits = { memoryMiB: 2048, processes: 1024, openFiles: 4096, fileSizeMiB: 8192, diskMiB: 10240 };

export const TRUST_DEFAULTS = {
  /** Failed authentications per address within the window before each further one is answered slowly. */
  authFailuresBeforeDelay: 20,
  /** ...and before every request with a token from that address is refused (429) for the rest of the window. */
  authFailuresBeforeRefusal: 40,
  authFailureWindowSec: 60,
  /** How long a failed authentication past the first threshold waits before its 401. */
  authFailureDelayMs: 500,
  /** Job submissions (and re-runs) per submit token per minute; admins are not capped. */
  submissionsPerMinute: 120,
  /** Upload bytes (bundles) per submit token per minute. */
  uploadBytesPerMinute: 4 * 1024 ** 3,
  /** Uploads are refused (507) when the data dir's disk would have less than this left. */
  minFreeDiskBytes: 256 * 1024 ** 2,
  /** The sign-in link's one-time code lives this long... */
  signInCodeTtlSec: 10 * 60,
  /** ...and the browser session it is exchanged for this long. */
  sessionTtlSec: 12 * 3600,
  /** `worker invite` defaults: one enrollment, valid for an hour. */
  inviteUses: 1,
  inviteTtlSec: 3600,
} as const;

/**
 * Request bodies up to this size that the desktop window sends through app://cmdx/api are read before they are
 * forwarded, so that the next coordinator node can be sent them when one is down; larger ones (bundles) stream.
 */
export const PROXY_RESENDABLE_BODY_BYTES = 1024 * 1024;
