// Job ZIPs on disk by SHA-256: a bundle is downloaded once however many jobs use it, checked against its
// hash on every use (a cached file rewritten in place, even at the same size, is caught and fetched again),
// and the least recently used ones go when the cache passes its size cap. Jobs never see the cache: they get
// an extracted copy in their workspace, and the sandbox does not show them the agent's work dir.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { BundleRef } from '../../protocol/api';

export const DEFAULT_CACHE_MAX_BYTES = 2 * 1024 ** 3;

/** The downloaded bytes do not match the hash the coordinator announced. */
export class BundleIntegrityError extends Error {
  override name = 'BundleIntegrityError';
}

const SHA256 = /^[a-f0-9]{64}$/;

async function sha256Of(file: string): Promise<string | null> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch {
    return null;
  }
  return hash.digest('hex');
}

export class BundleCache {
  private readonly downloads = new Map<string, Promise<string>>();
  /** How many jobs are using each bundle right now; those are never evicted. */
  private readonly inUse = new Map<string, number>();

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number = DEFAULT_CACHE_MAX_BYTES,
    /** The LRU clock (a file's mtime records its last use). */
    private readonly now: () => number = Date.now,
    /** Told when a cached file no longer matches its hash. */
    private readonly warn: (message: string) => void = () => {},
  ) {}

  private fileOf(sha256: string): string {
    return path.join(this.dir, `${sha256}.zip`);
  }

  /**
   * Runs `use` with the path of the bundle's ZIP, downloading it first unless it is cached. `download`
   * answers the HTTP response with the bytes.
   */
  async with<T>(bundle: BundleRef, download: () => Promise<Response>, use: (zipFile: string) => Promise<T>): Promise<T> {
    if (!SHA256.test(bundle.sha256)) throw new BundleIntegrityError(`"${bundle.sha256}" is not a SHA-256 hash`);
    this.inUse.set(bundle.sha256, (this.inUse.get(bundle.sha256) ?? 0) + 1);
    try {
      return await use(await this.fetch(bundle, download));
    } finally {
      const count = this.inUse.get(bundle.sha256)! - 1;
      if (count === 0) this.inUse.delete(bundle.sha256);
      else this.inUse.set(bundle.sha256, count);
      await this.evict();
    }
  }

  private async fetch(bundle: BundleRef, download: () => Promise<Response>): Promise<string> {
    const file = this.fileOf(bundle.sha256);
    const cached = await stat(file).catch(() => null);
    if (cached) {
      if (cached.size === bundle.size && (await sha256Of(file)) === bundle.sha256) {
        await this.touch(file);
        return file;
      }
      this.warn(`the cached bundle ${bundle.sha256} does not match its SHA-256 any more; fetching it again`);
      await rm(file, { force: true });
    }
    let pending = this.downloads.get(bundle.sha256);
    if (!pending) {
      pending = this.download(bundle, download).finally(() => this.downloads.delete(bundle.sha256));
      this.downloads.set(bundle.sha256, pending);
    }
    return pending;
  }

  private async download(bundle: BundleRef, download: () => Promise<Response>): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const response = await download();
    if (!response.body) throw new BundleIntegrityError('the coordinator sent an empty bundle');
    const partial = path.join(this.dir, `${bundle.sha256}.${randomBytes(4).toString('hex')}.part`);
    const hash = createHash('sha256');
    const hasher = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), hasher, createWriteStream(partial));
      const actual = hash.digest('hex');
      if (actual !== bundle.sha256) {
        throw new BundleIntegrityError(`the downloaded bundle has SHA-256 ${actual}, not the announced ${bundle.sha256}`);
      }
      const file = this.fileOf(bundle.sha256);
      await rename(partial, file);
      await this.touch(file);
      return file;
    } finally {
      await rm(partial, { force: true });
    }
  }

  private async touch(file: string): Promise<void> {
    const now = new Date(this.now());
    await utimes(file, now, now);
  }

  /** Drops the least recently used bundles not in use until the cache fits its cap. */
  private async evict(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const entries = [];
    for (const name of names) {
      const sha = name.slice(0, 64);
      if (!SHA256.test(sha)) continue;
      if (name.endsWith('.part')) {
        // left behind by a download that a crash interrupted
        if (!this.downloads.has(sha)) await rm(path.join(this.dir, name), { force: true });
        continue;
      }
      if (name !== `${sha}.zip`) continue;
      const info = await stat(path.join(this.dir, name)).catch(() => null);
      if (info) entries.push({ sha, size: info.size, usedAt: info.mtimeMs });
    }
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    for (const entry of entries.sort((a, b) => a.usedAt - b.usedAt)) {
      if (total <= this.maxBytes) return;
      if (this.inUse.has(entry.sha) || this.downloads.has(entry.sha)) continue;
      await rm(this.fileOf(entry.sha), { force: true });
      total -= entry.size;
    }
  }
}
