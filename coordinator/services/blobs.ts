// Content-addressed blob folder: a blob is named by its SHA-256, so the same ZIP uploaded twice is stored once.
import { createReadStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

export class BlobStore {
  constructor(
    readonly dir: string,
    /** The store's clock: a blob's mtime says when it was last stored, in the time retention judges it by. */
    private readonly now: () => number,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  path(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /**
   * Moves an uploaded temp file (already hashed while it streamed to disk) into place, or drops it if known. Either
   * way the blob is stamped stored now (by the store's clock, not this machine's, which another coordinator's
   * retention would misjudge), so it is not deleted as unused before the job that will use it is written.
   */
  async adopt(tempFile: string, sha256: string): Promise<void> {
    await this.place(tempFile, sha256);
    const now = this.now() / 1000;
    await utimes(this.path(sha256), now, now);
  }

  private async place(tempFile: string, sha256: string): Promise<void> {
    const target = this.path(sha256);
    if (await this.exists(sha256)) {
      await rm(tempFile, { force: true });
      return;
    }
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
    try {
      await rename(tempFile, target);
    } catch (err) {
      // A blob dir on another file system (--blob-dir, shared by several coordinators): copied beside its
      // place first, so another coordinator never reads half a blob.
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      const part = `${target}.${randomUUID()}.part`;
      await copyFile(tempFile, part);
      await rename(part, target);
      await rm(tempFile, { force: true });
    }
  }

  async exists(sha256: string): Promise<boolean> {
    return stat(this.path(sha256)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Deletes the blobs not in `keep` that were stored before `storedBefore` (epoch ms): a blob just uploaded has
   * no job referring to it yet. Returns how many went, and the bytes of those that stay.
   */
  async removeUnreferenced(keep: ReadonlySet<string>, storedBefore: number): Promise<{ removed: number; keptBytes: number }> {
    let removed = 0;
    let keptBytes = 0;
    for (const { sha256, file, size, mtimeMs } of await this.list()) {
      if (keep.has(sha256) || mtimeMs >= storedBefore) keptBytes += size;
      else {
        await rm(file, { force: true });
        removed++;
      }
    }
    return { removed, keptBytes };
  }

  async totalBytes(): Promise<number> {
    return (await this.list()).reduce((sum, blob) => sum + blob.size, 0);
  }

  private async list(): Promise<{ sha256: string; file: string; size: number; mtimeMs: number }[]> {
    const blobs = [];
    for (const prefix of await readdir(this.dir)) {
      // Only the two-hex-digit folders hold blobs: a shared --blob-dir also holds the jobs' output folder.
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const sha256 of await readdir(join(this.dir, prefix)).catch(() => [])) {
        const file = join(this.dir, prefix, sha256);
        const info = await stat(file).catch(() => null);
        if (info?.isFile()) blobs.push({ sha256, file, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
    return blobs;
  }

  open(sha256: string): NodeJS.ReadableStream {
    return createReadStream(this.path(sha256));
  }
}
