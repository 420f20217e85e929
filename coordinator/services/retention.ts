// What the data dir keeps: jobs that ended longer ago than the retention go, with their events, output files
// and commands, and so do the blobs (bundles, artifacts) no remaining job refers to, submit keys older than a
// day, and expired sign-in codes and browser sessions. Runs at start and hourly.
import { stat } from 'node:fs/promises';
import { LIMITS } from '../../protocol/api';
import type { Logger } from '../middleware/errors';
import type { Store } from '../store/types';
import type { BlobStore } from './blobs';
import type { OutputLog } from './output-log';

const DAY_MS = 24 * 3600 * 1000;
const DELETE_BATCH = 500;
/** A blob stored this recently may belong to an upload whose job is being created: never deleted yet. */
const NEW_BLOB_MS = 3600 * 1000;

export class Retention {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly storeFiles: string[],
    private readonly now: () => number,
    /** 0 keeps everything. */
    private readonly days: number,
    private readonly logger: Logger,
    private readonly output: OutputLog,
  ) {}

  async apply(): Promise<{ jobs: number; blobs: number }> {
    // Submit keys answer resends for a day whatever the retention: kept longer they would only grow the store.
    await this.store.deleteSubmissionKeysBefore(this.now() - LIMITS.idempotencyKeyTtlSec * 1000);
    await this.store.deleteExpiredSignIns(this.now());
    if (this.days <= 0) return { jobs: 0, blobs: 0 };
    const cutoff = this.now() - this.days * DAY_MS;
    let jobs = 0;
    // In batches, so requests are served between them.
    for (let deleted = DELETE_BATCH; deleted === DELETE_BATCH; jobs += deleted) {
      const ids = await this.store.transaction((tx) => tx.deleteJobsEndedBefore(cutoff, DELETE_BATCH));
      // After the commit: a crash before this leaves files of no job (never read), not a job without its output.
      for (const id of ids) await this.output.remove(id);
      deleted = ids.length;
    }
    const keep = new Set(await this.store.referencedBlobs());
    const { removed } = await this.blobs.removeUnreferenced(keep, this.now() - NEW_BLOB_MS);
    if (jobs > 0 || removed > 0) {
      this.logger.info('retention: deleted old jobs and unused blobs', { jobs, blobs: removed, retentionDays: this.days });
    }
    return { jobs, blobs: removed };
  }

  /** Bytes the data dir holds: the store's files and the blobs (not the jobs' output files: a walk of every job's folder per scrape). */
  async dataBytes(): Promise<number> {
    const files = await Promise.all(this.storeFiles.map((file) => stat(file).then((s) => s.size, () => 0)));
    return files.reduce((a, b) => a + b, 0) + (await this.blobs.totalBytes());
  }
}
