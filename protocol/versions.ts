// Release versions (x.y.z, optionally -prerelease) and the worker protocol's version range, shared by the
// coordinator (which marks outdated workers and refuses ones it cannot serve) and the agent (which reports both).

/** The worker protocol this code speaks. Bump it when an old agent could no longer work with this coordinator. */
export const WORKER_PROTOCOL = 1;
/** The oldest worker protocol this coordinator still serves; agents that do not say speak 1. */
export const OLDEST_WORKER_PROTOCOL = 1;

/** The one line a worker the coordinator cannot serve is told (null when it can). */
export function protocolMismatch(workerProtocol: number): string | null {
  if (workerProtocol >= OLDEST_WORKER_PROTOCOL && workerProtocol <= WORKER_PROTOCOL) return null;
  const range = OLDEST_WORKER_PROTOCOL === WORKER_PROTOCOL ? `${WORKER_PROTOCOL}` : `${OLDEST_WORKER_PROTOCOL}–${WORKER_PROTOCOL}`;
  const fix = workerProtocol < OLDEST_WORKER_PROTOCOL ? 'update it' : 'update the coordinator';
  return `this coordinator speaks protocol ${range}; this worker speaks ${workerProtocol}: ${fix}`;
}

/** Orders versions like "1.4.0" < "1.10.0" and "2.0.0-beta.1" < "2.0.0"; negative when a is older. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = '', pre = ''] = v.trim().replace(/^v/, '').split('-', 2);
    return { parts: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.parts.length, y.parts.length); i++) {
    const diff = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (diff !== 0) return diff;
  }
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return x.pre.localeCompare(y.pre, 'en', { numeric: true });
}
