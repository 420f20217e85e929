// `node coordinator [flags]` serves the pool; `node coordinator token create|list|revoke` manages submit tokens.
// The flags are parsed before the server is loaded (imported on use): `--help` and a wrong flag answer at once.
import { existsSync, readFileSync } from 'node:fs';
import { cp, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { DirLockedError, lockDir } from '../common/dir-lock';
import { onInterrupt } from '../common/interrupts';
import { isLoopbackHost } from '../protocol/addresses';
import { TRUST_DEFAULTS } from '../protocol/limits';
import { oneLine } from '../protocol/pool-record';
import { helpText, parseCommandLine, tokenFromFlags, UsageError, type FlagTable } from '../protocol/cli';
import { packageVersion } from '../main/agent/cli/common';
import type { Coordinator } from './app';
import { DEFAULTS } from './defaults';
import { HttpError } from './errors';

import type { TokenService } from './services/tokens';
import type { Store } from './store/types';

const serveFlags = {
  host: { type: 'string', env: 'CMDX_HOST', description: 'address to bind (0.0.0.0 for the LAN)', default: '127.0.0.1' },
  port: { type: 'number', env: 'CMDX_PORT', description: 'port to listen on (0 picks a free one)', default: DEFAULTS.port },
  'data-dir': { type: 'string', env: 'CMDX_DATA_DIR', description: 'where the store, blobs and tokens live', default: '.data/coordinator', placeholder: 'DIR' },
  database: { type: 'string', env: 'CMDX_DATABASE', description: 'a postgres:// URL: keep the store there, shared by every coordinator given it (default: SQLite in DIR)', placeholder: 'URL' },
  'blob-dir': { type: 'string', env: 'CMDX_BLOB_DIR', description: 'where uploaded ZIPs and artifacts live; with --database, a folder every coordinator reads (default: DIR/blobs)', placeholder: 'DIR' },
  'admin-token': { type: 'string', env: 'CMDX_ADMIN_TOKEN', description: 'admin token (made and kept in DIR/admin.token if absent)', placeholder: 'T' },
  'admin-token-file': { type: 'string', env: 'CMDX_ADMIN_TOKEN_FILE', description: 'read the admin token from this file', placeholder: 'FILE' },
  'join-token': { type: 'string', env: 'CMDX_JOIN_TOKEN', description: 'token workers join with (made and kept in DIR/join.token if absent)', placeholder: 'T' },
  'join-token-file': { type: 'string', env: 'CMDX_JOIN_TOKEN_FILE', description: 'read the join token from this file', placeholder: 'FILE' },
  'max-submits-per-minute': { type: 'number', env: 'CMDX_MAX_SUBMITS_PER_MINUTE', description: 'job submissions per submit token per minute', default: TRUST_DEFAULTS.submissionsPerMinute },
  'max-upload-bytes-per-minute': { type: 'number', env: 'CMDX_MAX_UPLOAD_BYTES_PER_MINUTE', description: 'upload bytes per submit token per minute', default: TRUST_DEFAULTS.uploadBytesPerMinute },
  'min-free-disk-bytes': { type: 'number', env: 'CMDX_MIN_FREE_DISK_BYTES', description: 'refuse uploads (507) below this much free disk', default: TRUST_DEFAULTS.minFreeDiskBytes },
  'with-worker': { type: 'boolean', env: 'CMDX_WITH_WORKER', description: 'also run one local worker agent in this process' },
  'worker-slots': { type: 'number', env: 'CMDX_WORKER_SLOTS', description: 'job slots of the --with-worker agent', default: 1 },
  'tls-cert': { type: 'string', env: 'CMDX_TLS_CERT', description: 'PEM certificate file to serve HTTPS with (off loopback, one is made and kept in DIR/tls if absent)', placeholder: 'FILE' },
  'allowed-host': { type: 'list', env: 'CMDX_ALLOWED_HOSTS', description: 'a DNS name clients use for this coordinator (IP addresses and this machine\'s own names always work)', placeholder: 'NAME' },
  'insecure-http': { type: 'boolean', env: 'CMDX_INSECURE_HTTP', description: 'serve plain HTTP even off loopback (tokens and jobs cross the network readable)' },
  'tls-key': { type: 'string', env: 'CMDX_TLS_KEY', description: 'PEM private key file for --tls-cert', placeholder: 'FILE' },
  'max-upload-bytes': { type: 'number', env: 'CMDX_MAX_UPLOAD_BYTES', description: 'largest ZIP accepted', default: DEFAULTS.maxUploadBytes },
  'max-output-bytes': { type: 'number', env: 'CMDX_MAX_OUTPUT_BYTES', description: 'output kept per job run (beginning + end)', default: DEFAULTS.maxOutputBytes },
  'default-timeout': { type: 'number', env: 'CMDX_DEFAULT_TIMEOUT', description: 'timeoutSec of jobs that set none', default: DEFAULTS.defaultTimeoutSec, placeholder: 'SEC' },
  'lease-ttl': { type: 'number', env: 'CMDX_LEASE_TTL', description: 'seconds a lease lives without a heartbeat', default: DEFAULTS.leaseTtlSec, placeholder: 'SEC' },
  'heartbeat-interval': { type: 'number', env: 'CMDX_HEARTBEAT_INTERVAL', description: 'seconds between worker heartbeats', default: DEFAULTS.heartbeatIntervalSec, placeholder: 'SEC' },
  retention: { type: 'number', env: 'CMDX_RETENTION', description: 'days finished jobs, their logs and unused ZIPs are kept (0: forever)', default: DEFAULTS.retentionDays, placeholder: 'DAYS' },
  'job-visibility': { type: 'string', env: 'CMDX_JOB_VISIBILITY', description: "owner: submitters see only their own jobs; team: everyone's (state and log)", default: 'owner', placeholder: 'WHO' },
  name: { type: 'string', env: 'CMDX_POOL_NAME', description: "the pool's name in colleagues' list of pools on the LAN (default: this machine's name); also the instance label of this node's /metrics (default: host:port)", placeholder: 'NAME' },
  'no-advertise': { type: 'boolean', env: 'CMDX_NO_ADVERTISE', description: 'do not announce the pool on the LAN (DNS-SD/mDNS _cmdx._tcp); it is never announced while bound to loopback' },
  'fair-share-half-life': { type: 'number', env: 'CMDX_FAIR_SHARE_HALF_LIFE', description: "seconds after which a person's past use of the pool counts half in who goes next", default: DEFAULTS.fairShareHalfLifeSec, placeholder: 'SEC' },
  'sync-full': { type: 'boolean', env: 'CMDX_SYNC_FULL', description: 'fsync every commit (survives power loss, slower)' },
} satisfies FlagTable;

const tokenFlags = {
  'data-dir': serveFlags['data-dir'],
  database: serveFlags.database,
  name: { type: 'string', description: 'token name (who uses it)', placeholder: 'NAME' },
  role: { type: 'string', description: 'submit or admin', default: 'submit', placeholder: 'ROLE' },
  id: { type: 'string', description: 'token id (for revoke)', placeholder: 'ID' },
} satisfies FlagTable;

const USAGE = [
  'node coordinator [options]',
  '       node coordinator token create --name NAME [--role submit|admin] | token list | token revoke --name NAME|--id ID',
  '       node coordinator worker invite [--uses N] [--expires 1h] [--server URL]',
  '       node coordinator publish-update DIR   (electron-builder output: latest*.yml and the installers)',
  '       node coordinator migrate --from DIR --to postgres://…',
].join('\n');

/**
 * The store a one-shot command works on (the --database given, or the SQLite file in the data dir, which must
 * exist) and its token service; imported on use, so that `--help` loads neither.
 */
async function openCommandStore(dataDir: string, database: string | undefined): Promise<{ store: Store; tokens: TokenService }> {
  const tokenService = (await import('./services/tokens')).TokenService;
  // Stamped by the store's clock: an invite made from a machine whose clock is off expires when the pool says.
  const withTokens = (store: Store) => ({ store, tokens: new tokenService(store, () => store.now()) });
  if (database) return withTokens(await (await import('./app')).openDatabase(database));
  const storeFile = join(dataDir, 'coordinator.sqlite');
  if (!existsSync(storeFile)) {
    throw new UsageError(`no coordinator data in ${dataDir}: run this where the coordinator runs, or pass its --data-dir (or --database)`);
  }
  const { SqliteStore } = await import('./store/sqlite');
  return withTokens(new SqliteStore({ file: storeFile }));
}

const positiveInt = (name: string, value: number | undefined, min = 1): number | undefined => {
  if (value !== undefined && (!Number.isInteger(value) || value < min)) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}`);
  }
  return value;
};

async function tokenCommand(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommandLine(tokenFlags, argv, process.env);
  if (help) {
    console.log(helpText('node coordinator token create|list|revoke [options]', tokenFlags));
    return 0;
  }
  const action = positionals[0];
  const { store, tokens } = await openCommandStore(resolve(flags['data-dir']!), flags.database);
  const audit = (action: string, target: string) =>
    store.insertAudit({ at: store.now(), actor: `cli:${os.userInfo().username}`, role: 'admin', action, target, ip: null });
  try {
    switch (action) {
      case 'create': {
        if (!flags.name) throw new UsageError('token create needs --name (who will use it)');
        if (flags.role !== 'submit' && flags.role !== 'admin') throw new UsageError('--role is submit or admin');
        const token = await tokens.create(flags.name, flags.role);
        await audit('token.create', flags.name);
        console.log(token);
        return 0;
      }
      case 'list': {
        const rows = (await tokens.list())
          .filter((t) => t.role !== 'worker')
          .map((t) => [t.id, t.role, t.name, new Date(t.createdAt).toISOString(), t.revokedAt ? `revoked ${new Date(t.revokedAt).toISOString()}` : 'active']);
        const table = [['ID', 'ROLE', 'NAME', 'CREATED', 'STATE'], ...rows];
        const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
        for (const row of table) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
        return 0;
      }
      case 'revoke': {
        if (!flags.name && !flags.id) throw new UsageError('token revoke needs --name or --id');
        const count = await tokens.revoke(flags.id ? { id: flags.id } : { name: flags.name! });
        if (count > 0) await audit('token.revoke', flags.id ?? flags.name!);
        console.log(`revoked ${count} token(s)`);
        return count > 0 ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown token action "${action ?? ''}": use create, list or revoke`);
    }
  } finally {
    await store.close();
  }
}

const publishFlags = { 'data-dir': serveFlags['data-dir'] } satisfies FlagTable;

/** `node coordinator publish-update DIR`: checks electron-builder's output and makes it the desktop update feed. */
async function publishCommand(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommandLine(publishFlags, argv, process.env);
  if (help) {
    console.log(helpText('node coordinator publish-update DIR [options]', publishFlags));
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('publish-update needs one folder: the one electron-builder wrote (dist/)');
  const [{ updateFeedDir }, { publishUpdate }] = await Promise.all([import('./app'), import('./services/update-feed')]);
  const feedDir = updateFeedDir(resolve(flags['data-dir']!));
  const release = await publishUpdate(resolve(positionals[0]!), feedDir);
  console.log(`published ${release.version} (${release.channels.join(', ')}; ${release.files.length} file(s), sha512 checked) to ${feedDir}`);
  console.log('desktop apps of the pool install it at their next check (they ask their owner before restarting)');
  return 0;
}

const inviteFlags = {
  'data-dir': serveFlags['data-dir'],
  database: serveFlags.database,
  uses: { type: 'number', description: 'how many workers may join with it', default: TRUST_DEFAULTS.inviteUses, placeholder: 'N' },
  expires: { type: 'string', description: 'how long it is valid: 30m, 1h, 7d', default: '1h', placeholder: 'TIME' },
  server: { type: 'string', env: 'CMDX_SERVER', description: 'the URL workers reach this coordinator at (for the printed command)', placeholder: 'URL' },
} satisfies FlagTable;

function durationSec(raw: string): number {
  const match = /^(\d+)\s*(s|m|h|d)$/.exec(raw.trim());
  if (!match) throw new UsageError(`--expires "${raw}": give a number and a unit, e.g. 30m, 1h or 7d`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

/** `node coordinator worker invite`: an enrollment code for one new worker (or --uses N), valid --expires long. */
async function workerCommand(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommandLine(inviteFlags, argv, process.env);
  if (help) {
    console.log(helpText('node coordinator worker invite [--uses N] [--expires 1h] [--server URL]', inviteFlags));
    return 0;
  }
  if (positionals[0] !== 'invite') throw new UsageError(`unknown worker action "${positionals[0] ?? ''}": use invite`);
  const uses = positiveInt('uses', flags.uses)!;
  const expiresInSec = durationSec(flags.expires!);
  if (expiresInSec < 60) throw new UsageError('--expires must be at least 1m');
  const dataDir = resolve(flags['data-dir']!);
  const { store, tokens } = await openCommandStore(dataDir, flags.database);
  try {
    const [{ certificateFingerprint }, { InviteService }] = await Promise.all([import('./services/tls'), import('./services/invites')]);
    const fingerprint = await certificateFingerprint(dataDir);
    const server = flags.server ?? `${fingerprint ? 'https' : 'http'}://${os.hostname()}:${DEFAULTS.port}`;
    const invite = await new InviteService(tokens, () => store.now()).create({ uses, expiresInSec }, server, fingerprint);
    await store.insertAudit({ at: store.now(), actor: `cli:${os.userInfo().username}`, role: 'admin', action: 'invite.create', target: invite.id, ip: null });
    console.log(`enrollment code (${uses} use${uses === 1 ? '' : 's'}, expires ${invite.expiresAt}):`);
    console.log(`  ${invite.code}`);
    console.log('on the new worker, run:');
    console.log(`  ${invite.command}`);
    if (invite.link) {
      console.log('or, on a PC with the desktop app, open this invite link (the app asks before joining):');
      console.log(`  ${invite.link}`);
      console.log(`  (to send it with a QR code: ${invite.page})`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

const migrateFlags = {
  from: { type: 'string', description: "the data dir of the embedded (SQLite) coordinator to copy; stop it first", placeholder: 'DIR' },
  to: { type: 'string', env: 'CMDX_DATABASE', description: 'the postgres:// URL of an empty database', placeholder: 'URL' },
} satisfies FlagTable;

/** `node coordinator migrate --from DIR --to postgres://…`: the embedded store's data, copied into PostgreSQL. */
async function migrateCommand(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommandLine(migrateFlags, argv, process.env);
  if (help) {
    console.log(helpText('node coordinator migrate --from DIR --to postgres://…', migrateFlags));
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  if (!flags.from || !flags.to) throw new UsageError('migrate needs --from DIR (the data dir) and --to postgres://… (the database)');
  const dataDir = resolve(flags.from);
  const storeFile = join(dataDir, 'coordinator.sqlite');
  if (!existsSync(storeFile)) throw new UsageError(`no coordinator data in ${dataDir} (no coordinator.sqlite there)`);
  // The lock a running coordinator holds: copying a store that is being written would lose what comes after.
  let lock;
  try {
    lock = await lockDir(dataDir, 'data dir');
  } catch (err) {
    if (err instanceof DirLockedError) throw new UsageError(`${err.message}: stop that coordinator before migrating its data`);
    throw err;
  }
  const [{ SqliteStore }, { openDatabase, redactUrl }, { copyStore }] = await Promise.all([
    import('./store/sqlite'),
    import('./app'),
    import('./store/copy'),
  ]);
  const from = new SqliteStore({ file: storeFile });
  try {
    const to = await openDatabase(flags.to);
    try {
      const copied = await copyStore(from, to);
      // Output lives in files, not in the store: under the blob folder the coordinators on the database share.
      const output = join(dataDir, 'output');
      if (existsSync(output)) await cp(output, join(dataDir, 'blobs', 'output'), { recursive: true });
      console.log(
        `copied ${copied.jobs} jobs (${copied.events} events), ${copied.workers} workers, ${copied.tokens} tokens, ${copied.audit} audit entries into ${redactUrl(flags.to)}`,
      );
      console.log(`start each coordinator with --database ${redactUrl(flags.to)} --blob-dir ${join(dataDir, 'blobs')} (or a shared copy of that folder)`);
      return 0;
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
    await lock.release();
  }
}

interface Stoppable {
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** The --with-worker agent, in this process, joining with its own one-use invite: it stops and starts with the coordinator. */
async function startLocalWorker(coordinator: Coordinator, dataDir: string, slots: number): Promise<Stoppable> {
  const { Agent, createConsoleLogger } = await import('../main/agent');
  const { transportFetch } = await import('../main/agent/transport');
  const local = new Agent({
    server: coordinator.url,
    fetch: transportFetch(coordinator.url, coordinator.fingerprint ? { fingerprint: coordinator.fingerprint } : {}),
    joinToken: (await coordinator.createInvite({ uses: 1, expiresInSec: 600 })).code,
    name: `${os.hostname()}-local`,
    slots,
    // Beside the data dir, never in it: a job on a worker without a sandbox must not find the store a folder up.
    workDir: `${dataDir}-worker`,
    // It stops and starts with the coordinator: the same worker each time, so its jobs keep its name.
    leaveOnStop: false,
    logger: createConsoleLogger({ write: (line) => process.stdout.write(line), colour: Boolean(process.stdout.isTTY) }),
  });
  await local.start();
  return local;
}

async function serve(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommandLine(serveFlags, argv, process.env);
  if (help) {
    console.log(helpText(USAGE, serveFlags));
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  if ((flags['tls-cert'] === undefined) !== (flags['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const jobVisibility = flags['job-visibility'];
  if (jobVisibility !== 'owner' && jobVisibility !== 'team') throw new UsageError('--job-visibility is owner or team');
  const port = positiveInt('port', flags.port, 0)!;
  if (port > 65535) throw new UsageError('--port must be at most 65535');
  const workerSlots = positiveInt('worker-slots', flags['worker-slots'])!;
  const dataDir = resolve(flags['data-dir']!);
  const tls =
    flags['tls-cert'] && flags['tls-key']
      ? { cert: await readFile(flags['tls-cert']), key: await readFile(flags['tls-key']) }
      : undefined;
  const warn = (message: string) => console.error(`warning: ${message}`);
  const readText = (file: string) => readFileSync(file, 'utf8');
  const adminToken = tokenFromFlags(argv, 'admin-token', flags['admin-token'], flags['admin-token-file'], { readText, warn });
  const joinToken = tokenFromFlags(argv, 'join-token', flags['join-token'], flags['join-token-file'], { readText, warn });
  const { createCoordinator, redactUrl } = await import('./app');
  if (flags.name !== undefined && (flags.name.length > 63 || !flags.name.trim() || oneLine(flags.name) !== flags.name)) throw new UsageError('--name is one line of 1 to 63 characters');
  const version = packageVersion();
  const coordinator = createCoordinator({
    dataDir,
    host: flags.host!,
    port,
    ...(adminToken ? { adminToken } : {}),
    ...(joinToken ? { joinToken } : {}),
    maxUploadBytes: positiveInt('max-upload-bytes', flags['max-upload-bytes'])!,
    maxOutputBytes: positiveInt('max-output-bytes', flags['max-output-bytes'])!,
    defaultTimeoutSec: positiveInt('default-timeout', flags['default-timeout'])!,
    leaseTtlSec: positiveInt('lease-ttl', flags['lease-ttl'])!,
    heartbeatIntervalSec: positiveInt('heartbeat-interval', flags['heartbeat-interval'])!,
    synchronous: flags['sync-full'] ? 'full' : 'normal',
    ...(flags.database ? { database: flags.database } : {}),
    ...(flags['blob-dir'] ? { blobDir: resolve(flags['blob-dir']) } : {}),
    retentionDays: positiveInt('retention', flags.retention, 0)!,
    fairShareHalfLifeSec: positiveInt('fair-share-half-life', flags['fair-share-half-life'])!,
    jobVisibility,
    limits: {
      submissionsPerMinute: positiveInt('max-submits-per-minute', flags['max-submits-per-minute'])!,
      uploadBytesPerMinute: positiveInt('max-upload-bytes-per-minute', flags['max-upload-bytes-per-minute'])!,
      minFreeDiskBytes: positiveInt('min-free-disk-bytes', flags['min-free-disk-bytes'], 0)!,
    },
    ...(tls ? { tls } : {}),
    insecureHttp: flags['insecure-http'] ?? false,
    allowedHosts: flags['allowed-host'] ?? [],
    ...(flags.name ? { name: flags.name } : {}),
    ...(version ? { version } : {}),
    advertise: !flags['no-advertise'],
  });
  await coordinator.start();
  // Taken before the first line is printed: whoever waits for a line (a person, a supervisor, a test) may signal
  // at once, and a SIGINT with no handler yet would kill the process with the default action instead.
  let localWorker: Promise<Stoppable | undefined> = Promise.resolve(undefined);
  const stopped = new Promise<void>((done) => {
    onInterrupt((signal, count) => {
      if (count > 1) {
        console.error(`${signal} again: exiting now`);
        process.exit(130);
      }
      console.log(`${signal}: stopping (in-flight requests finish; Ctrl-C again to force)`);
      void (async () => {
        const agent = await localWorker.catch(() => undefined);
        await agent?.stop({ graceMs: 10_000 });
        await coordinator.stop();
        done();
      })();
    });
  });
  console.log(`cmd-executor coordinator serving ${coordinator.url}`);
  console.log(`  data dir:   ${dataDir}`);
  if (flags.database) console.log(`  database:   ${redactUrl(flags.database)}`);
  if (coordinator.fingerprint) console.log(`  TLS certificate SHA-256: ${coordinator.fingerprint}  (workers and CLIs pin it: --fingerprint)`);
  else if (!isLoopbackHost(flags.host!)) console.warn('  WARNING: plain HTTP on the network (--insecure-http): tokens and jobs cross it readable by anyone');
  console.log(`  admin token: ${adminToken ? '(given)' : coordinator.adminTokenFile}`);
  console.log(`  join token:  ${joinToken ? '(given)' : coordinator.joinTokenFile}`);
  if (flags['no-advertise']) console.log('  LAN advertisement: off (--no-advertise)');
  else if (!isLoopbackHost(flags.host!)) console.log(`  LAN advertisement: _cmdx._tcp as "${flags.name || os.hostname()}" (--no-advertise turns it off)`);
  console.log(`  sign in:    ${await coordinator.signInLink()}  (one-time link, valid ${TRUST_DEFAULTS.signInCodeTtlSec / 60} min)`);

  if (flags['with-worker']) {
    localWorker = startLocalWorker(coordinator, dataDir, workerSlots);
    await localWorker;
    console.log(`  local worker "${os.hostname()}-local" joined the pool`);
  }
  await stopped;
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'token') return tokenCommand(argv.slice(1));
  if (argv[0] === 'worker') return workerCommand(argv.slice(1));
  if (argv[0] === 'publish-update') return publishCommand(argv.slice(1));
  if (argv[0] === 'migrate') return migrateCommand(argv.slice(1));
  return serve(argv);
}

function explainStartError(err: unknown): string | null {
  if (err instanceof UsageError) return err.message.includes('--help') ? err.message : `${err.message} (see node coordinator --help)`;
  // By name: the classes live with the server and the update feed, which a failure before they loaded must not load.
  if ((err instanceof Error && (err.name === 'DataDirError' || err.name === 'PublishError')) || err instanceof HttpError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') return `the port is already in use (${e.message}); pass another with --port`;
  if (e.code === 'EADDRNOTAVAIL') return `this machine has no such address to bind; check --host`;
  if (e.code === 'EACCES' && e.syscall === 'listen') return 'not allowed to bind that port; use one above 1024';
  if (e.code === 'ENOENT' && e.path) return `no such file: ${e.path}`;
  return null;
}

const exit = (code: number) => {
  process.exitCode = code;
};

// Every failure is one line; CMDX_DEBUG=1 adds the stack for a bug report.
main(process.argv.slice(2)).then(exit, (err: unknown) => {
  const message = explainStartError(err) ?? (err instanceof Error ? err.message : String(err));
  console.error(`cmd-executor: ${message.replace(/\s*\n\s*/g, ' ')}`);
  if (process.env.CMDX_DEBUG && err instanceof Error) console.error(err.stack);
  exit(err instanceof UsageError ? 2 : 1);
});

