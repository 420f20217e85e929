// Linux: each command of a job runs in bubblewrap (as Flatpak does), with new user, PID, IPC, UTS, cgroup and
// network namespaces (an empty one, or with network one that slirp4netns connects: see slirp4netns.ts). The job sees the system read-only (/usr and its
// /bin, /lib links), a handful of files from /etc, its own /proc and /dev, and three folders of its own:
// /workspace (its working folder), /home/job (HOME) and /tmp. Nothing else of the host: not the owner's home,
// not the agent's work dir (identity, bundle cache, other jobs), not the app's or the coordinator's data.
// prlimit (util-linux) sets the per-process limits inside the sandbox: RLIMIT_NPROC set after the new user
// namespace exists counts only the job's own processes (Linux 5.14+ counts it per user namespace), where set
// outside it would count every process of the owner.
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobFolders, Launch, Sandbox, SandboxedJob } from './index';
import { networkedCommand, networkHold, SLIRP_DNS } from './slirp4netns';

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
const PRLIMIT = '/usr/bin/prlimit';
const MiB = 1024 * 1024;

/** The job's folders as it sees them. */
export const VISIBLE: JobFolders = { workspace: '/workspace', home: '/home/job', tmp: '/tmp' };

/** Top-level system folders shown read-only: a symlink on merged-/usr systems (made again), else bound. */
const SYSTEM_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * The few files of /etc programs need to start (the dynamic linker's cache, alternatives, certificates, time
 * zone, name service), not the host's configuration, accounts or secrets. hosts and the resolver's settings only
 * matter with network; resolv.conf is then our own (slirp4netns's DNS forwarder: the host's may be on loopback).
 */
const ETC_FILES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
  'pki',
  'crypto-policies',
  'localtime',
  'timezone',
  'nsswitch.conf',
  'mime.types',
];
const ETC_NETWORK_FILES = ['hosts', 'host.conf', 'gai.conf'];

export function findBubblewrap(): string | null {
  return BWRAP_CANDIDATES.find((file) => existsSync(file)) ?? null;
}

/** `--ro-bind` for what exists, `--symlink` for merged-/usr links: the host's system, read-only. */
function systemArgs(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of SYSTEM_LINKS) {
    const info = lstatSync(dir, { throwIfNoEntry: false });
    if (!info) continue;
    if (info.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else args.push('--ro-bind', dir, dir);
  }
  return args;
}

/**
 * The arguments of bwrap that run `file args` for `job`; `accounts` holds the passwd, group and (with network)
 * resolv.conf the job sees. With network the caller gives bwrap a network namespace already (networkedCommand).
 */
export function bubblewrapArgs(job: SandboxedJob, file: string, args: readonly string[], system: readonly string[], accounts: string): string[] {
  const etc = [...ETC_FILES, ...(job.network ? ETC_NETWORK_FILES : [])].flatMap((name) => ['--ro-bind-try', `/etc/${name}`, `/etc/${name}`]);
  const { limits, folders } = job;
  return [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(job.network ? [] : ['--unshare-net']),
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'cmdx-job',
    ...system,
    ...etc,
    '--ro-bind',
    path.join(accounts, 'passwd'),
    '/etc/passwd',
    '--ro-bind',
    path.join(accounts, 'group'),
    '/etc/group',
    ...(job.network ? ['--ro-bind', path.join(accounts, 'resolv.conf'), '/etc/resolv.conf'] : []),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--bind',
    folders.workspace,
    VISIBLE.workspace,
    '--bind',
    folders.home,
    VISIBLE.home,
    '--bind',
    folders.tmp,
    VISIBLE.tmp,
    '--chdir',
    VISIBLE.workspace,
    PRLIMIT,
    `--nproc=${limits.processes}`,
    `--nofile=${limits.openFiles}`,
    // No single file past the disk cap either: the watcher then only has to catch many files.
    `--fsize=${Math.min(limits.fileSizeMiB, limits.diskMiB) * MiB}`,
    // Core dumps would land in the workspace at the size of the job's memory.
    '--core=0',
    '--',
    file,
    ...args,
  ];
}

/**
 * Writes what the job is shown (its accounts, its resolver). With `slirp4netns` a job that may use the network
 * gets one of its own; without, none (the agent then tells the pool it gives no network).
 */
export async function bubblewrapSandbox(bwrap: string, stateDir: string, slirp4netns: string | null): Promise<Sandbox> {
  const accounts = path.join(stateDir, 'sandbox');
  await mkdir(accounts, { recursive: true, mode: 0o700 });
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  await writeFile(path.join(accounts, 'passwd'), `job:x:${uid}:${gid}:cmd-executor job:${VISIBLE.home}:/bin/sh\n`, { mode: 0o644 });
  await writeFile(path.join(accounts, 'group'), `job:x:${gid}:\n`, { mode: 0o644 });
  await writeFile(path.join(accounts, 'resolv.conf'), `nameserver ${SLIRP_DNS}\n`, { mode: 0o644 });
  const system = systemArgs();
  return {
    kind: 'bubblewrap',
    visibleFolders: () => VISIBLE,
    launch: (file, args, job): Launch => {
      const network = job.network && slirp4netns !== null;
      const bwrapArgs = bubblewrapArgs({ ...job, network }, file, args, system, accounts);
      const cwd = job.folders.workspace;
      if (!network) return { file: bwrap, args: bwrapArgs, cwd, contained: true };
      return { ...networkedCommand(bwrap, bwrapArgs), cwd, contained: true, hold: networkHold(slirp4netns) };
    },
  };
}
