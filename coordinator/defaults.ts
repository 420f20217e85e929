// The coordinator's defaults, apart from the server that uses them: the command line's help shows them without
// loading the server.
export const DEFAULTS = {
  port: 8080,
  leaseTtlSec: 30,
  heartbeatIntervalSec: 10,
  offlineAfterSec: 30,
  defaultTimeoutSec: 3600,
  defaultMaxAttempts: 3,
  maxUploadBytes: 1024 ** 3,
  maxOutputBytes: 16 * 1024 ** 2,
  sweepIntervalMs: 1000,
  headersTimeoutMs: 20_000,
  sseKeepAliveMs: 15_000,
  /** Days finished jobs, their logs and unused ZIPs are kept (0: forever). */
  retentionDays: 30,
  /** Seconds after which a person's past use of the pool counts half in who goes next. */
  fairShareHalfLifeSec: 3600,
} as const;
