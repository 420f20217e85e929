// Abuse limits: failed authentication per address (slowed, then refused), and submissions and upload bytes per
// token per minute. Counts live in memory: a restart forgives, which is what a person locked out would want.
import { statfs } from 'node:fs/promises';
import { InsufficientStorageError, TooManyRequestsError } from '../errors';

/** Amounts per key within a sliding window. */
class WindowCounter {
  private readonly entries = new Map<string, { at: number; amount: number }[]>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  private live(key: string): { at: number; amount: number }[] {
    const since = this.now() - this.windowMs;
    const list = (this.entries.get(key) ?? []).filter((e) => e.at > since);
    if (list.length) this.entries.set(key, list);
    else this.entries.delete(key);
    return list;
  }

  total(key: string): number {
    return this.live(key).reduce((sum, e) => sum + e.amount, 0);
  }

  add(key: string, amount: number): void {
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(key, [...this.live(key), { at: this.now(), amount }]);
  }

  /** Seconds until the oldest amount leaves the window. */
  retryAfterSec(key: string): number {
    const oldest = this.live(key)[0];
    return oldest ? (oldest.at + this.windowMs - this.now()) / 1000 : 1;
  }
}

export interface AuthThrottleLimits {
  authFailuresBeforeDelay: number;
  authFailuresBeforeRefusal: number;
  authFailureWindowSec: number;
  authFailureDelayMs: number;
}

export class AuthThrottle {
  private readonly failures: WindowCounter;
  private readonly blockedUntil = new Map<string, number>();

  constructor(
    private readonly limits: AuthThrottleLimits,
    private readonly now: () => number,
  ) {
    this.failures = new WindowCounter(limits.authFailureWindowSec * 1000, now);
  }

  /** Throws 429 while this address is refused (every token, right or wrong: guessing stays pointless). */
  checkAllowed(address: string): void {
    const until = this.blockedUntil.get(address);
    if (until === undefined) return;
    if (until <= this.now()) {
      this.blockedUntil.delete(address);
      return;
    }
    throw new TooManyRequestsError('too many failed sign-ins from this address; wait and try again', (until - this.now()) / 1000);
  }

  /** Records a failure; resolves after the slowdown due, or throws 429 once the address is refused. */
  async failed(address: string): Promise<void> {
    this.failures.add(address, 1);
    const count = this.failures.total(address);
    if (count > this.limits.authFailuresBeforeRefusal) {
      if (this.blockedUntil.size > 10_000) this.blockedUntil.clear();
      this.blockedUntil.set(address, this.now() + this.limits.authFailureWindowSec * 1000);
      this.checkAllowed(address);
    }
    if (count > this.limits.authFailuresBeforeDelay) {
      await new Promise((resolve) => setTimeout(resolve, this.limits.authFailureDelayMs));
    }
  }
}

export interface QuotaLimits {
  submissionsPerMinute: number;
  uploadBytesPerMinute: number;
}

export class SubmitQuota {
  private readonly submissions: WindowCounter;
  private readonly uploadBytes: WindowCounter;

  constructor(
    private readonly limits: QuotaLimits,
    now: () => number,
  ) {
    this.submissions = new WindowCounter(60_000, now);
    this.uploadBytes = new WindowCounter(60_000, now);
  }

  /** Counts one submission of `bytes` by this token, or throws 429 if it would pass a per-minute cap. */
  take(tokenId: string, bytes: number): void {
    this.requireRoom(tokenId, 1);
    if (bytes > 0 && this.uploadBytes.total(tokenId) + bytes > this.limits.uploadBytesPerMinute) {
      throw new TooManyRequestsError(
        `this token uploaded more than ${this.limits.uploadBytesPerMinute} bytes in the last minute, the pool's cap; wait and try again`,
        this.uploadBytes.retryAfterSec(tokenId),
      );
    }
    this.submissions.add(tokenId, 1);
    this.addBytes(tokenId, bytes);
  }

  /** A matrix counts as the jobs it starts: the ones past the first, which take() already counted. */
  takeMore(tokenId: string, jobs: number): void {
    if (jobs <= 0) return;
    this.requireRoom(tokenId, jobs);
    this.submissions.add(tokenId, jobs);
  }

  private requireRoom(tokenId: string, jobs: number): void {
    if (this.submissions.total(tokenId) + jobs > this.limits.submissionsPerMinute) {
      throw new TooManyRequestsError(
        `this token submitted ${this.limits.submissionsPerMinute} jobs in the last minute, the pool's cap; wait and try again`,
        this.submissions.retryAfterSec(tokenId),
      );
    }
  }

  /** Bytes of an upload whose size was not announced, counted once stored. */
  addBytes(tokenId: string, bytes: number): void {
    if (bytes > 0) this.uploadBytes.add(tokenId, bytes);
  }
}

/** Throws 507 when taking `incomingBytes` more would leave the disk of `dir` with less than `minFreeBytes`. */
export async function requireFreeSpace(dir: string, incomingBytes: number, minFreeBytes: number): Promise<void> {
  const stats = await statfs(dir);
  const free = stats.bavail * stats.bsize;
  if (free - incomingBytes < minFreeBytes) {
    const mib = (n: number) => `${Math.max(0, Math.floor(n / 1024 ** 2))} MiB`;
    throw new InsufficientStorageError(
      `the coordinator's disk is nearly full (${mib(free)} free, ${mib(minFreeBytes)} kept spare): uploads are refused until space is freed`,
    );
  }
}
