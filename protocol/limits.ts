// The pool's abuse limits and trust defaults, in one place: the coordinator's flags default to these and the
// README quotes them.
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
