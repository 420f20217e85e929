import type { ZipLimits } from '../../common/zip-inspect';
import type { Logger } from '../middleware/errors';
import type { Store } from '../store/types';
import type { JobAccess } from './access';
import type { BlobStore } from './blobs';
import type { EventHub } from './event-hub';
import type { FairShare } from './fair-share';
import type { InviteService } from './invites';
import type { JobService } from './jobs';
import type { SubmitQuota } from './limits';
import type { Metrics } from './metrics';
import type { Revocations } from './revocations';
import type { Scheduler } from './scheduler';
import type { TokenService } from './tokens';
import type { UpdateFeed } from './update-feed';
import type { WorkerControl } from './worker-control';

/** What the routes are given: the services, none of which know about HTTP. */
export interface Services {
  store: Store;
  tokens: TokenService;
  revocations: Revocations;
  jobs: JobService;
  access: JobAccess;
  invites: InviteService;
  /**
   * How workers reach this coordinator: its URL and its TLS certificate's SHA-256 (null over plain HTTP), set once
   * listening; and its name and version, as it advertises them.
   */
  pool: { url: string; fingerprint: string | null; name: string; version: string };
  scheduler: Scheduler;
  fairShare: FairShare;
  /** The desktop update feed (DATA_DIR/updates), filled by `node coordinator publish-update DIR`. */
  updates: UpdateFeed;
  blobs: BlobStore;
  hub: EventHub;
  control: WorkerControl;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
  uploads: { tmpDir: string; maxUploadBytes: number; zipLimits: ZipLimits };
  sse: { keepAliveMs: number };
  limits: { quota: SubmitQuota; minFreeDiskBytes: number };
  /** Aborted when the coordinator stops: long polls and event streams end so shutdown is not held up. */
  shutdown: AbortSignal;
}
