// The coordinator as a library: create, start, stop. The CLI (`node coordinator`), the tests and the
// desktop app's "Host the pool on this PC" all use it.
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import { DirLockedError, lockDir, type DirLock } from '../common/dir-lock';
import { batchedWrite, createConsoleLogger } from '../common/logger';
import { DEFAULT_ZIP_LIMITS, type ZipLimits } from '../common/zip-inspect';
import { isLoopbackHost } from '../protocol/addresses';
import { PROTOCOL_VERSION, type CreatedInvite, type Role } from '../protocol/api';
import { TRUST_DEFAULTS } from '../protocol/limits';
import { DEFAULTS } from './defaults';
import { authenticate, type Authenticators } from './middleware/auth';
import type { AppState } from './middleware/context';
import { securityHeaders } from './middleware/security';
import { errorHandler, type Logger } from './middleware/errors';
import { groupRoutes } from './routes/groups/groups.routes';
import { usageRoutes } from './routes/usage/usage.routes';
import { jobRoutes } from './routes/jobs/jobs.routes';
import { leaseRoutes } from './routes/leases/leases.routes';
import { auditRoutes } from './routes/audit/audit.routes';
import { claimHandler } from './routes/workers/claim';
import { inviteRoutes } from './routes/invites/invites.routes';
import { joinPageRoutes } from './routes/invites/join-page.routes';
import { seedRoutes } from './routes/seed/seed.routes';
import { meRoutes } from './routes/me/me.routes';
import { sessionRoutes } from './routes/sessions/sessions.routes';
import { staticUi } from './routes/system/static';
import { systemRoutes } from './routes/system/system.routes';
import { updateRoutes } from './routes/updates/updates.routes';
import { workerRoutes } from './routes/workers/workers.routes';
import { JobAccess, type JobVisibility } from './services/access';
import { advertisePool, type Advertisement } from './services/advertise';
import { BlobStore } from './services/blobs';
import type { Services } from './services/container';
import { EventHub } from './services/event-hub';
import { JobStream } from './services/job-stream';
import { OutputLog, outputFolder } from './services/output-log';
import { FairShare } from './services/fair-share';
import { WorkerControl } from './services/worker-control';
import { JobLog } from './services/job-state';
import { InviteService } from './services/invites';
import { JobService } from './services/jobs';
import { LeaseClock, StallWatch } from './services/lease-clock';
import { AuthThrottle, SubmitQuota } from './services/limits';
import { Metrics } from './services/metrics';
import { Revocations } from './services/revocations';
import { Retention } from './services/retention';
import { Scheduler } from './services/scheduler';
import type { WorkerAvailability } from './services/waiting';
import { SessionService } from './services/sessions';
import { fingerprintOf, loadOrCreateCertificate, tlsMode, type TlsMaterial } from './services/tls';
import { newToken, TokenService } from './services/tokens';
import { UpdateFeed } from './services/update-feed';
import { PostgresStore } from './store/postgres';
import { SqliteStore } from './store/sqlite';
import type { Store } from './store/types';

export interface CoordinatorOptions {
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  adminToken?: string;
  joinToken?: string;
  /** Wall clock (epoch ms): stamps records; default the store's (on PostgreSQL the database's clock). */
  clock?: () => number;
  /** Monotonic ms that deadlines are measured with; default performance.now, or `clock` when only that is given (tests). */
  monotonicClock?: () => number;
  leaseTtlSec?: number;
  heartbeatIntervalSec?: number;
  offlineAfterSec?: number;
  defaultTimeoutSec?: number;
  defaultMaxAttempts?: number;
  /** Seconds after a job's timeout before the coordinator ends it without word from the worker. */
  timeoutGraceSec?: number;
  maxUploadBytes?: number;
  maxOutputBytes?: number;
  zipLimits?: ZipLimits;
  /** The built UI to serve at `/`; null serves none. */
  staticDir?: string | null;
  logger?: Logger;
  /** How often leases and timeouts are checked; 0 leaves it to explicit `sweep()` calls (tests with a fake clock). */
  sweepIntervalMs?: number;
  /**
   * HTTPS with this certificate; 'self-signed' makes one once and keeps it in DIR/tls. Bound to anything but
   * loopback, the coordinator serves HTTPS (self-signed unless given) unless `insecureHttp` says otherwise.
   */
  tls?: TlsMaterial | 'self-signed';
  insecureHttp?: boolean;
  synchronous?: 'normal' | 'full';
  /**
   * A `postgres://` URL: the store is that database, which several coordinators may share (each with its own
   * data dir for uploads in flight and its TLS certificate). Absent: SQLite in the data dir.
   */
  database?: string;
  /**
   * Where bundles and artifacts live (default DIR/blobs). Coordinators sharing a database share this folder
   * too (a network file system): a ZIP uploaded through one is downloaded through another.
   */
  blobDir?: string;
  /** Days a finished job (with its log and events) is kept; 0 keeps everything. Default 30. */
  retentionDays?: number;
  /** A client that has not sent its request headers by then is dropped. */
  headersTimeoutMs?: number;
  sseKeepAliveMs?: number;
  /** Whether submitters see each other's jobs (`team`) or only their own (`owner`, the default). */
  jobVisibility?: JobVisibility;
  /** Host names (besides IP addresses, loopback and this machine's names) the coordinator answers to. */
  allowedHosts?: string[];
  /** Abuse limits and trust lifetimes; each defaults to protocol/limits.ts. */
  limits?: Partial<TrustLimits>;
  /** The pool's name, as people see it in the LAN's list of pools and on invites; default: this machine's name. */
  name?: string;
  /** The version it reports (the package's). */
  version?: string;
  /** Announce the pool on the LAN over DNS-SD/mDNS (`_cmdx._tcp`); never while bound to loopback only. */
  advertise?: boolean;
  /** Fair share: a person's past use of the pool halves every this many seconds. */
  fairShareHalfLifeSec?: number;
}

export type TrustLimits = { -readonly [K in keyof typeof TRUST_DEFAULTS]: number };

const RETENTION_INTERVAL_MS = 3600 * 1000;
/**
 * Connections the kernel holds for the coordinator while it is busy (Linux caps it at net.core.somaxconn).
 * Node's 511 overflowed when thousands of workers (re)connected at once, e.g. after a restart, and a worker whose
 * connect is dropped waits seconds for its retry.
 */
const LISTEN_BACKLOG = 4096;
/**
 * How long an idle connection is kept for its client's next request. Node's 5 s is shorter than a busy client's
 * lag between an answer and its next call (a worker's next claim, a heartbeat): the server closed connections
 * clients were just reusing, an ECONNRESET each (hundreds in a 2,000-worker bench run). Clients close theirs
 * first (undici keeps them for the server's hint less 1 s).
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Where `publish-update` puts the desktop update feed the coordinator serves at /updates/. */
export const updateFeedDir = (dataDir: string): string => join(dataDir, 'updates');

export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../dist/renderer', import.meta.url));

/** Operator lines on stdout, one per event, in the agent's shape: `[time] [LEVEL] message key=value`. */
export const consoleLogger: Logger = createConsoleLogger({
  write: batchedWrite((text) => process.stdout.write(text)),
  colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
});

/** The data dir cannot be used: missing permissions, full disk, a file in the way. */
export class DataDirError extends Error {
  override name = 'DataDirError';
}

/**
 * A recursive mkdir that fails on a read-only or locked-down parent reports only ENOENT; ask the nearest
 * folder that exists why it cannot be written.
 */
async function explainMissing(dir: string, err: NodeJS.ErrnoException): Promise<NodeJS.ErrnoException> {
  if (err.code !== 'ENOENT') return err;
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    try {
      await access(parent, fsConstants.F_OK);
    } catch {
      if (parent === dirname(parent)) return err;
      continue;
    }
    try {
      await access(parent, fsConstants.W_OK);
      return err;
    } catch (why) {
      return why as NodeJS.ErrnoException;
    }
  }
}

/** Reads the token kept in `file`, or makes one and keeps it there (mode 0600) for the operator to copy. */
async function storedToken(file: string, make: () => string): Promise<string> {
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = make();
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** A database URL with its password masked: what error messages and logs may show. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');

/** The PostgreSQL store at `url`, or the one-line reason it cannot be opened. */
export async function openDatabase(url: string): Promise<PostgresStore> {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new DataDirError(`--database "${redactUrl(url)}" is not a postgres:// URL`);
  try {
    return await PostgresStore.open({ url });
  } catch (err) {
    throw new DataDirError(`cannot open the database ${redactUrl(url)}: ${(err as Error).message}`);
  }
}

/** The store: the PostgreSQL database given, or SQLite in the data dir. */
async function openStore(database: string | undefined, sqliteFile: string, synchronous: 'normal' | 'full'): Promise<Store> {
  if (database) return openDatabase(database);
  try {
    return new SqliteStore({ file: sqliteFile, synchronous });
  } catch (err) {
    throw new DataDirError(`cannot open the store in ${dirname(sqliteFile)}: ${(err as Error).message}`);
  }
}

export class Coordinator {
  url = '';
  /** SHA-256 of the TLS certificate clients pin (`AB:CD:…`); null over plain HTTP. */
  fingerprint: string | null = null;
  adminToken = '';
  joinToken = '';
  readonly adminTokenFile: string;
  readonly joinTokenFile: string;
  private server: http.Server | undefined;
  private sessions: SessionService | undefined;
  private store: Store | undefined;
  private output: OutputLog | undefined;
  private services: Services | undefined;
  private lock: DirLock | undefined;
  private revocations: Revocations | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retention: Retention | undefined;
  private advertisement: Advertisement | undefined;
  private sweeping: Promise<void> | undefined;
  private stopSignals: (() => void) | undefined;
  /** The retention pass under way, which stop() lets finish before it closes the store. */
  private retaining: Promise<void> | undefined;
  private readonly shutdown = new AbortController();
  /** Connections that have not sent a request yet: nothing in flight, so stop() may drop them at once. */
  private readonly silentSockets = new Set<Socket>();

  constructor(readonly options: CoordinatorOptions) {
    this.adminTokenFile = join(options.dataDir, 'admin.token');
    this.joinTokenFile = join(options.dataDir, 'join.token');
  }

  get scheduler(): Scheduler {
    return this.started().scheduler;
  }

  private started(): Services {
    if (!this.services) throw new Error('the coordinator is not started');
    return this.services;
  }

  private async prepareDataDir(): Promise<{ tmpDir: string; blobDir: string }> {
    const { dataDir } = this.options;
    const tmpDir = join(dataDir, 'tmp');
    const blobDir = this.options.blobDir ?? join(dataDir, 'blobs');
    try {
      // 0700: the store holds every job's env and the token hashes; nobody else on the machine reads it.
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      await chmod(dataDir, 0o700);
      await access(dataDir, fsConstants.W_OK);
      // Before anything is touched: a second coordinator here would share the store and wipe the first's uploads.
      this.lock = await lockDir(dataDir, 'data dir');
      // Leftovers of uploads cut off by a crash (the lock says no live coordinator owns them).
      await rm(tmpDir, { recursive: true, force: true });
      await mkdir(tmpDir, { recursive: true });
      await mkdir(blobDir, { recursive: true });
      const probe = join(tmpDir, '.write-probe');
      await writeFile(probe, 'ok');
      await rm(probe);
    } catch (err) {
      if (err instanceof DirLockedError) throw new DataDirError(err.message);
      await this.lock?.release();
      this.lock = undefined;
      const e = await explainMissing(dataDir, err as NodeJS.ErrnoException);
      const why =
        e.code === 'ENOSPC'
          ? 'the disk is full'
          : e.code === 'EACCES' || e.code === 'EPERM'
            ? 'permission denied'
            : e.code === 'EROFS'
              ? 'the file system is read-only'
              : e.code === 'ENOTDIR' || e.code === 'EEXIST'
                ? 'a file is in the way'
                : e.message;
      throw new DataDirError(`cannot use data dir ${dataDir}: ${why}`);
    }
    return { tmpDir, blobDir };
  }

  async start(): Promise<void> {
    try {
      await this.startUp();
    } catch (err) {
      // Whatever was opened goes, so the folder can be used again (by a retry, or another coordinator).
      this.server?.close();
      await this.store?.close();
      await this.lock?.release();
      this.server = undefined;
      this.store = undefined;
      this.lock = undefined;
      throw err;
    }
  }

  private async startUp(): Promise<void> {
    const o = this.options;
    const mono = o.monotonicClock ?? o.clock ?? (() => performance.now());
    const logger = o.logger ?? consoleLogger;
    const { tmpDir, blobDir } = await this.prepareDataDir();
    const storeFile = join(o.dataDir, 'coordinator.sqlite');
    const store = await openStore(o.database, storeFile, o.synchronous ?? 'normal');
    this.store = store;
    // Records and the deadlines they carry are stamped and judged by the store's clock: on a shared database one
    // clock for every coordinator, so a node with a skewed wall clock neither times a job out early nor keeps an
    // expired invite alive. In-process deadlines (a lease's silence) stay on the monotonic clock.
    const now = o.clock ?? (() => store.now());
    const maxOutputBytes = o.maxOutputBytes ?? DEFAULTS.maxOutputBytes;
    // Output is fsynced when the store is: kill -9 loses neither without it, power loss neither with it.
    const output = new OutputLog(outputFolder(join(o.blobDir ?? o.dataDir, 'output')), { maxOutputBytes, fsync: o.synchronous === 'full' });
    this.output = output;
    // Coordinators sharing the store tell each other of new events and queued jobs (PostgreSQL's NOTIFY).
    const hub = new EventHub(new JobStream(output, maxOutputBytes), store.shared ? (jobs) => store.signal({ jobs }) : undefined);
    const control = new WorkerControl();
    const log = new JobLog(hub, logger);
    const tokens = new TokenService(store, now);
    // The job service wakes waiting claims through the scheduler, which needs the job service: a late binding.
    const wakeWaiters = { current: () => {} };
    const jobs = new JobService(
      store,
      log,
      now,
      {
        defaultTimeoutSec: o.defaultTimeoutSec ?? DEFAULTS.defaultTimeoutSec,
        defaultMaxAttempts: o.defaultMaxAttempts ?? DEFAULTS.defaultMaxAttempts,
        maxOutputBytes,
      },
      () => wakeWaiters.current(),
      (): Promise<WorkerAvailability[]> => pool.availability(),
      output,
      control,
    );
    let scheduler: Scheduler | undefined = undefined;
    const metrics = new Metrics(store, () => scheduler!, () => retention.dataBytes());
    const leaseTtlMs = (o.leaseTtlSec ?? DEFAULTS.leaseTtlSec) * 1000;
    const updates = new UpdateFeed(updateFeedDir(o.dataDir));
    const fairShare = new FairShare(now, (o.fairShareHalfLifeSec ?? DEFAULTS.fairShareHalfLifeSec) * 1000);
    const pool = new Scheduler(
      store,
      log,
      jobs,
      tokens,
      now,
      {
        leaseTtlMs,
        heartbeatIntervalSec: o.heartbeatIntervalSec ?? DEFAULTS.heartbeatIntervalSec,
        offlineAfterMs: (o.offlineAfterSec ?? DEFAULTS.offlineAfterSec) * 1000,
        timeoutGraceMs: o.timeoutGraceSec !== undefined ? o.timeoutGraceSec * 1000 : leaseTtlMs,
      },
      metrics,
      new LeaseClock({ wall: now, mono }),
      logger,
      output,
      fairShare,
      control,
    );
    scheduler = pool;
    wakeWaiters.current = () => pool.wakeWaiters(true);
    if (store.shared) pool.offerElsewhere = () => store.signal({ queued: true });
    this.stopSignals = store.onSignal((signal) => {
      if ('queued' in signal) pool.wakeWaiters();
      else hub.wake(signal.jobs);
    });
    const blobs = new BlobStore(blobDir, now);
    await blobs.init();
    const retention = new Retention(
      store,
      blobs,
      store.shared ? [] : [storeFile, `${storeFile}-wal`, `${storeFile}-shm`],
      now,
      o.retentionDays ?? DEFAULTS.retentionDays,
      logger,
      output,
    );
    this.retention = retention;

    this.adminToken = o.adminToken ?? (await storedToken(this.adminTokenFile, () => newToken('admin')));
    this.joinToken = o.joinToken ?? (await storedToken(this.joinTokenFile, () => newToken('join')));
    if (!(await tokens.replace('admin', 'admin', this.adminToken))) {
      throw new DataDirError(`the admin token in use was revoked; remove ${this.adminTokenFile} (or give another) to make a new one`);
    }
    if (!(await tokens.replace('join', 'join', this.joinToken))) {
      logger.warn('the join token was revoked: workers join with invites only (node coordinator worker invite)');
    }

    const limits: TrustLimits = { ...TRUST_DEFAULTS, ...o.limits };
    const sessions = new SessionService(store, now, { codeSec: limits.signInCodeTtlSec, sessionSec: limits.sessionTtlSec });
    this.sessions = sessions;
    const auth: Authenticators = { tokens, sessions, throttle: new AuthThrottle(limits, now), store, now };

    const revocations = new Revocations(store);
    this.revocations = revocations;
    const services: Services = {
      store,
      tokens,
      revocations,
      jobs,
      access: new JobAccess(jobs, o.jobVisibility ?? 'owner'),
      invites: new InviteService(tokens, now),
      pool: { url: '', fingerprint: null, name: o.name || os.hostname(), version: o.version ?? 'unknown' },
      scheduler: pool,
      fairShare,
      updates,
      blobs,
      hub,
      control,
      metrics,
      logger,
      now,
      uploads: { tmpDir, maxUploadBytes: o.maxUploadBytes ?? DEFAULTS.maxUploadBytes, zipLimits: o.zipLimits ?? DEFAULT_ZIP_LIMITS },
      sse: { keepAliveMs: o.sseKeepAliveMs ?? DEFAULTS.sseKeepAliveMs },
      limits: { quota: new SubmitQuota(limits, now), minFreeDiskBytes: limits.minFreeDiskBytes },
      shutdown: this.shutdown.signal,
    };
    this.services = services;

    const app = new Koa<AppState>({ proxy: false });
    app.silent = true;
    app.use(errorHandler(logger));
    app.use(async (ctx, next) => {
      const end = metrics.httpDuration.startTimer({ method: ctx.method });
      try {
        await next();
      } finally {
        const route = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
        end({ route: route ? String(route) : 'unmatched', status: String(ctx.status) });
      }
    });
    app.use(securityHeaders(o.allowedHosts ?? []));
    app.use(staticUi(o.staticDir === null ? undefined : (o.staticDir ?? DEFAULT_STATIC_DIR)));
    app.use(authenticate(auth));
    const routers = [sessionRoutes(auth), meRoutes(), ...[systemRoutes, jobRoutes, groupRoutes, workerRoutes, usageRoutes, leaseRoutes, seedRoutes, inviteRoutes, joinPageRoutes, auditRoutes, updateRoutes].map((make) => make(services))];
    for (const router of routers) {
      app.use(router.routes());
      app.use(router.allowedMethods());
    }

    const bindHost = o.host ?? '127.0.0.1';
    const mode = tlsMode(bindHost, o.tls, o.insecureHttp ?? false);
    const tls = mode === 'self-signed' ? await loadOrCreateCertificate(o.dataDir) : mode === 'given' ? (o.tls as TlsMaterial) : undefined;
    this.fingerprint = tls ? fingerprintOf(tls.cert) : null;
    services.pool.fingerprint = this.fingerprint;

    const headersTimeout = o.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs;
    // Node looks for overdue headers only this often (30 s by default): silent clients would outlive a shorter
    // timeout. Not more often than that: each check walks every connection (10,000 long polls in the bench).
    const serverOptions = { connectionsCheckingInterval: headersTimeout };
    const server = tls
      ? https.createServer({ ...serverOptions, cert: tls.cert, key: tls.key })
      : http.createServer(serverOptions);
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.silentSockets.add(socket);
      socket.once('close', () => this.silentSockets.delete(socket));
    });
    server.on('request', (req: http.IncomingMessage) => this.silentSockets.delete(req.socket));
    // Claims are answered before Koa (see routes/workers/claim.ts); everything else goes through its chain.
    const claims = claimHandler(services, auth, o.allowedHosts ?? []);
    const koa = app.callback();
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!claims(req, res)) void koa(req, res);
    });
    server.headersTimeout = headersTimeout;
    server.requestTimeout = 0;
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.timeout = 120_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: o.port ?? DEFAULTS.port, host: bindHost, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `${tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
    // What workers elsewhere type: this machine's name when bound to every address (127.0.0.1 is only for here).
    services.pool.url =
      host === '0.0.0.0' || host === '[::]' ? `${tls ? 'https' : 'http'}://${os.hostname()}:${address.port}` : this.url;
    // Tells this node's series from the others' when several coordinators share a database.
    metrics.setInstance(o.name || new URL(services.pool.url).host);
    logger.info('coordinator started', { url: this.url, dataDir: o.dataDir, pid: process.pid });
    if (o.advertise && isLoopbackHost(address.address)) {
      logger.info('not advertised on the LAN: bound to loopback, where only this machine can reach it');
    } else if (o.advertise) {
      const { name, version, fingerprint } = services.pool;
      this.advertisement = advertisePool({ name, version, protocolVersion: PROTOCOL_VERSION, fingerprint, scheme: tls ? 'https' : 'http' }, address.port, logger);
    }

    const interval = o.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs;
    if (interval > 0) {
      // A stall shorter than half what a lease has left after a heartbeat interval cannot expire a healthy
      // worker's lease; a longer one gives every lease a fresh TTL.
      const heartbeatMs = (o.heartbeatIntervalSec ?? DEFAULTS.heartbeatIntervalSec) * 1000;
      const stalls = new StallWatch(mono, interval, Math.max(1000, (leaseTtlMs - heartbeatMs) / 2));
      this.sweepTimer = setInterval(() => {
        const lateMs = stalls.tick();
        if (lateMs !== null) {
          pool.stalled(lateMs);
          // Heartbeats that queued up during the stall are served before leases are looked at again.
          return;
        }
        void this.sweep().catch((err) => logger.error('sweep failed', { error: String(err) }));
        if (store.shared) {
          // Another coordinator's submits and events wake only its own claims and streams: look again here.
          pool.wakeWaiters();
          hub.wakeAll();
        }
      }, interval);
      this.sweepTimer.unref();
      const retain = () => {
        this.retaining = retention.apply().then(
          () => undefined,
          (err) => logger.error('retention failed', { error: String(err) }),
        );
      };
      this.retentionTimer = setInterval(retain, RETENTION_INTERVAL_MS).unref();
      retain();
    }
  }

  /** Deletes what the retention no longer keeps (runs at start and hourly). */
  async applyRetention(): Promise<{ jobs: number; blobs: number }> {
    this.started();
    return this.retention!.apply();
  }

  /** Expires leases and enforces timeouts now (runs on a timer unless `sweepIntervalMs` is 0). */
  async sweep(): Promise<void> {
    if (!this.sweeping) {
      const { store, scheduler } = this.started();
      // Coordinators sharing a database sweep one at a time: the others would only find the same leases.
      this.sweeping = (async () => {
        if (await store.isSweeper()) await scheduler.sweep();
      })().finally(() => {
        this.sweeping = undefined;
      });
    }
    return this.sweeping;
  }

  /** A sign-in link for the web UI: a one-time code (never the admin token) good for `signInCodeTtlSec`. */
  async signInLink(): Promise<string> {
    if (!this.sessions) throw new Error('the coordinator is not started');
    return `${this.url}/#code=${await this.sessions.issueCode('admin', 'admin')}`;
  }

  /** An enrollment code for a new worker, with the command to run there. */
  createInvite(options: { uses?: number; expiresInSec?: number } = {}): Promise<CreatedInvite> {
    const { invites, pool } = this.started();
    return invites.create(options, pool.url, pool.fingerprint);
  }

  async createToken(name: string, role: Role): Promise<string> {
    return this.started().tokens.create(name, role);
  }

  /** Stops accepting, ends long polls and event streams, lets in-flight requests finish, closes the store. */
  async stop(): Promise<void> {
    const advertisement = this.advertisement;
    this.advertisement = undefined;
    await advertisement?.stop();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.revocations?.stop();
    this.stopSignals?.();
    this.shutdown.abort();
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections turn idle as their last response ends (long polls, event streams): close
      // each then, rather than waiting out the keep-alive timeout.
      server.closeIdleConnections();
      for (const socket of this.silentSockets) socket.destroy();
      const reaper = setInterval(() => server.closeIdleConnections(), 20);
      await closed;
      clearInterval(reaper);
    }
    await this.sweeping;
    await this.retaining;
    await this.output?.close();
    await this.store?.close();
    await this.lock?.release();
    if (this.services) this.services.logger.info('coordinator stopped', { dataDir: this.options.dataDir });
    this.server = undefined;
    this.store = undefined;
    this.output = undefined;
    this.lock = undefined;
  }
}

export function createCoordinator(options: CoordinatorOptions): Coordinator {
  return new Coordinator(options);
}
