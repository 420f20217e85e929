// Waiting without blocking: retry delays with jitter, and sleeps that other events can cut short.
import { ApiError } from '../../protocol/client';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential delay with "equal jitter": half fixed, half random, so a room full of agents that lost the
 * coordinator at the same moment does not come back at the same moment.
 */
export function backoffDelay(failures: number, { baseMs, maxMs }: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Network trouble or a server hiccup: worth trying the same call again later. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}

/** A sleep that `wake()` ends early; used where new work, a pause or a stop must not wait for a timer. */
export class Alarm {
  private waiters = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.waiters]) done();
  }
}

/** Resolves true when `promise` settles within `ms`, false otherwise (the promise keeps running). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
