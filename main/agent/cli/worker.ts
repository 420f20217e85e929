// `npm run worker`: the agent without Electron, for build servers and spare boxes.
// Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 2 for bad flags or a refused join token, 1 otherwise.
// The agent and the schemas are imported once the flags are read: --help and a wrong flag answer at once.
import os from 'node:os';
import path from 'node:path';
import type { JobLimits } from '../../../protocol/api';
import { DEFAULT_JOB_LIMITS } from '../../../protocol/limits';
import { DISCOVERY_TIMEOUT_MS, poolLine } from '../../../protocol/pool-record';
import { onInterrupt } from '../../../common/interrupts';
import { helpText, parseCommandLine, tokenFromFlags, UsageError, type FlagTable } from '../../../protocol/cli';
import { createConsoleLogger, LOG_LEVELS, type LogLevel } from '../logger';
import { fetchFor, packageVersion, parseServerUrls, readText, runMain, transportFlags } from './common';

const DEFAULT_WORK_DIR = '~/.cmd-executor/worker';

const workerFlags = {
  discover: { type: 'boolean', description: 'list the pools announced on the LAN (one line each: name, URL, fingerprint, version) and exit' },
  server: { type: 'string', env: 'CMDX_SERVER', placeholder: 'URL', description: 'coordinator URL, e.g. http://pool-host:8080; several nodes of one pool comma-separated (tried in turn when one fails)' },
  'join-token': { type: 'string', env: 'CMDX_JOIN_TOKEN', placeholder: 'CODE', description: 'an enrollment code from `node coordinator worker invite` (or the join token)' },
  'join-token-file': { type: 'string', env: 'CMDX_JOIN_TOKEN_FILE', placeholder: 'FILE', description: 'read the enrollment code from this file (keeps it out of ps)' },
  name: { type: 'string', env: 'CMDX_NAME', placeholder: 'NAME', description: 'name shown in the pool (default: the host name)' },
  labels: {
    type: 'list',
    env: 'CMDX_LABELS',
    placeholder: 'A,B',
    description: 'labels jobs may require; host:<name> is always added',
  },
  slots: { type: 'number', env: 'CMDX_SLOTS', placeholder: 'N', default: 1, description: 'jobs run at once' },
  'work-dir': {
    type: 'string',
    env: 'CMDX_WORK_DIR',
    placeholder: 'DIR',
    default: DEFAULT_WORK_DIR,
    description: 'identity, bundle cache and job workspaces',
  },
  'keep-workspaces': { type: 'boolean', env: 'CMDX_KEEP_WORKSPACES', description: "keep each job's folder after it ends (debugging)" },
  'kill-grace': {
    type: 'number',
    env: 'CMDX_KILL_GRACE',
    placeholder: 'SEC',
    default: 10,
    description: 'seconds between the polite signal and the hard kill of a job',
  },
  'stop-grace': {
    type: 'number',
    env: 'CMDX_STOP_GRACE',
    placeholder: 'SEC',
    default: 30,
    description: 'on SIGINT/SIGTERM, seconds running jobs get to finish before they go back to the queue',
  },
  'allow-network': {
    type: 'boolean',
    env: 'CMDX_ALLOW_NETWORK',
    description: 'let jobs that ask for it ("network": true) use the network; others never get it',
  },
  trust: {
    type: 'list',
    env: 'CMDX_TRUST',
    placeholder: 'A,B',
    description: 'without a sandbox (macOS, Windows, no bubblewrap), run only these submitters’ jobs (* for all)',
  },
  'no-sandbox': {
    type: 'boolean',
    env: 'CMDX_NO_SANDBOX',
    description: 'run jobs unconfined even where a sandbox works (then only --trust submitters’ jobs run)',
  },
  'memory-limit': { type: 'number', env: 'CMDX_MEMORY_LIMIT', placeholder: 'MIB', description: `memory of a job (default ${DEFAULT_JOB_LIMITS.memoryMiB})` },
  'process-limit': { type: 'number', env: 'CMDX_PROCESS_LIMIT', placeholder: 'N', description: `processes and threads of a job (default ${DEFAULT_JOB_LIMITS.processes})` },
  'open-files-limit': { type: 'number', env: 'CMDX_OPEN_FILES_LIMIT', placeholder: 'N', description: `open files per process (default ${DEFAULT_JOB_LIMITS.openFiles})` },
  'file-size-limit': { type: 'number', env: 'CMDX_FILE_SIZE_LIMIT', placeholder: 'MIB', description: `largest file a job writes (default ${DEFAULT_JOB_LIMITS.fileSizeMiB})` },
  'disk-limit': { type: 'number', env: 'CMDX_DISK_LIMIT', placeholder: 'MIB', description: `disk a job's folders use (default ${DEFAULT_JOB_LIMITS.diskMiB})` },
  ...transportFlags,
  'log-level': { type: 'string', env: 'CMDX_LOG_LEVEL', placeholder: 'LEVEL', default: 'info', description: 'debug, info, warn or error' },
} satisfies FlagTable;

const USAGE = 'CMDX_JOIN_TOKEN=CODE npm run -s worker -- --server URL [options]\n       npm run -s worker -- --discover';
const FOOTER = `
Runs jobs of the pool on this machine until SIGINT/SIGTERM (Ctrl-C), then lets running jobs finish within
--stop-grace, hands the rest back to the queue and leaves the pool. A second Ctrl-C hands them back at once.`;

function resolveHome(dir: string): string {
  return path.resolve(dir === '~' || dir.startsWith('~/') ? path.join(os.homedir(), dir.slice(1)) : dir);
}

function seconds(flag: string, value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value) || value < 0) throw new UsageError(`--${flag} expects seconds (0 or more)`);
  return value * 1000;
}

/** `--discover`: one line per pool found, or one line saying none was; joining one still takes an enrollment code. */
async function listPools(): Promise<number> {
  const [{ discoverPools }, { PROTOCOL_VERSION }] = await Promise.all([import('../discovery'), import('../../../protocol/api')]);
  const pools = await discoverPools({
    timeoutMs: DISCOVERY_TIMEOUT_MS,
    onError: (err) => process.stderr.write(`warning: mDNS: ${err.message}\n`),
  });
  if (pools.length === 0) {
    console.error(`no pool answered on this network within ${DISCOVERY_TIMEOUT_MS / 1000} s (a pool started with --no-advertise, or on another subnet, is not listed)`);
    return 1;
  }
  for (const pool of pools) console.log(poolLine(pool, PROTOCOL_VERSION));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommandLine(workerFlags, argv, process.env);
  if (help) {
    console.log(helpText(USAGE, workerFlags, FOOTER));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  if (flags.discover) return listPools();
  const servers = parseServerUrls(flags.server);
  const joinToken = tokenFromFlags(argv, 'join-token', flags['join-token'], flags['join-token-file'], { readText, warn: (m) => process.stderr.write(`warning: ${m}\n`) });
  if (!joinToken) {
    throw new UsageError('an enrollment code is required: CMDX_JOIN_TOKEN or --join-token-file (make one with `node coordinator worker invite`)');
  }
  const [{ jobLimitsSchema, labelSchema }, { Agent, RegistrationRefusedError }] = await Promise.all([
    import('../../../protocol/api'),
    import('../index'),
  ]);
  const slots = flags.slots!;
  if (!Number.isInteger(slots) || slots < 1 || slots > 256) throw new UsageError('--slots expects a whole number from 1 to 256');
  for (const label of flags.labels ?? []) {
    const checked = labelSchema.safeParse(label);
    if (!checked.success) throw new UsageError(`label "${label}": ${checked.error.issues[0]!.message}`);
  }
  const level = flags['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level expects one of ${LOG_LEVELS.join(', ')}`);
  const killGraceMs = seconds('kill-grace', flags['kill-grace']);
  const limitFlags: Record<keyof JobLimits, keyof typeof workerFlags> = {
    memoryMiB: 'memory-limit',
    processes: 'process-limit',
    openFiles: 'open-files-limit',
    fileSizeMiB: 'file-size-limit',
    diskMiB: 'disk-limit',
  };
  const given = Object.entries(limitFlags).filter(([, flag]) => flags[flag] !== undefined);
  const limits = jobLimitsSchema.partial().safeParse(Object.fromEntries(given.map(([key, flag]) => [key, flags[flag]])));
  if (!limits.success) {
    const issue = limits.error.issues[0]!;
    throw new UsageError(`--${limitFlags[issue.path[0] as keyof JobLimits]}: ${issue.message}`);
  }
  const stopGraceMs = seconds('stop-grace', flags['stop-grace']);

  const logger = createConsoleLogger({
    write: (line) => process.stdout.write(line),
    colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    level,
  });
  const agent = new Agent({
    server: servers.join(','),
    joinToken,
    fetch: await fetchFor(servers, flags),
    ...(flags.name ? { name: flags.name } : {}),
    labels: flags.labels ?? [],
    slots,
    workDir: resolveHome(flags['work-dir']!),
    logger,
    killGraceMs,
    keepWorkspaces: flags['keep-workspaces'] ?? false,
    version: packageVersion(),
    sandbox: flags['no-sandbox'] ? 'none' : 'auto',
    allowNetwork: flags['allow-network'] ?? false,
    trust: flags.trust ?? [],
    limits: limits.data,
  });

  let signals = 0;
  const stopped = new Promise<void>((resolve, reject) => {
    agent.once('removed', reject);
    onInterrupt((signal, count) => {
      signals = count;
      if (count === 1) {
        logger.info(`${signal}: stopping (again to hand running jobs back at once)`);
        void agent.stop({ graceMs: stopGraceMs }).then(resolve);
      } else {
        logger.warn(`${signal} again: handing running jobs back now`);
        void agent.vacate();
      }
    });
  });

  try {
    await agent.start();
  } catch (err) {
    if (err instanceof RegistrationRefusedError) throw new UsageError(err.message);
    throw err;
  }
  if (signals === 0) logger.info(`worker ready: ${agent.status().name} takes jobs from ${servers.join(', ')}`, { slots });
  await stopped;
  return 0;
}

runMain(main);
