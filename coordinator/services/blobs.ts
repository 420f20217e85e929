// Content-addressed blob folder: a blob is named by its SHA-256, so the same ZIP uploaded twice is stored once.
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

export class BlobStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  path(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Moves an uploaded temp file (already hashed while it streamed to disk) into place, or drops it if known. */
  async adopt(tempFile: string, sha256: string): Promise<void> {
    const target = this.path(sha256);
    if (await this.exists(sha256)) {
      await rm(tempFile, { force: true });
      return;
    }
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
    await rename(tempFile, target);
  }

  async exists(sha256: string): Promise<boolean> {
    return stat(this.path(sha256)).then(
      () => true,
      () => false,
    );
  }

  open(sha256: string): NodeJS.ReadableStream {
    return createReadStream(this.path(sha256));
  }
}
