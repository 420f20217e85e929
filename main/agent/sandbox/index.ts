// The sandbox between the agent and a job's processes: one interface, one backend per OS, chosen once when the
// agent starts and reported to the pool. Linux: bubblewrap (namespaces). macOS: Seatbelt (sandbox-exec), probed
// before use. Windows (Job Objects, windows-job.ts) is not a backend yet: those workers say `none` and run only
// trusted submitters' jobs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { JobLimits, SandboxKind } from '../../../protocol/api';
import { bubblewrapSandbox, findBubblewrap } from './bubblewrap';
import { seatbeltAvailable, seatbeltSandbox } from './seatbelt-sandbox';
import { findSlirp4netns } from './slirp4netns';

/** One job's folders on the agent's disk (the sandbox shows the job only these). */
export interface JobFolders {
  workspace: string;
  home: string;
  tmp: string;
}

export interface SandboxedJob {
  folders: JobFolders;
  network: boolean;
  limits: JobLimits;
}

/** A program to start for one command of the job. */
export interface Launch {
  file: string;
  args: string[];
  cwd: string;
  /**
   * The job's processes live in their own PID namespace under `file`: when it exits they are all gone, and
   * they are found (to signal or measure) among its descendants rather than in its process group.
   */
  contained: boolean;
  /** Set where the sandbox holds the job until something outside it is ready (its network). */
  hold?: Hold;
}

export interface Hold {
  /** Pipes `file` gets after stdin, stdout and stderr (fds 3, 4, ...). */
  pipes: number;
  /** Resolves once the job may start; rejects if it must not (then kill `file`). What it starts ends with `file`. */
  release(child: ChildProcess): Promise<void>;
  /** Resolves once what `release` started has ended too (after `file` exits). */
  ended(): Promise<void>;
}

export interface Sandbox {
  readonly kind: SandboxKind;
  /** The workspace, home and temp folder as the job sees them (its working folder and HOME/TMPDIR). */
  visibleFolders(job: SandboxedJob): JobFolders;
  /** How to start `file args` inside the job's sandbox. */
  launch(file: string, args: readonly string[], job: SandboxedJob): Launch;
}

/** No sandbox: the job runs as the agent's user with everything that user may touch. */
export const noSandbox: Sandbox = {
  kind: 'none',
  visibleFolders: (job) => job.folders,
  launch: (file, args, job) => ({ file, args: [...args], cwd: job.folders.workspace, contained: false }),
};

export interface SandboxChoice {
  sandbox: Sandbox;
  /** Why this one, in words for the log ("bubblewrap 0.8.0 at /usr/bin/bwrap", "no bubblewrap found"). */
  why: string;
  /** Whether jobs that ask for the network get it here: the owner allows it and the sandbox can give it safely. */
  network: boolean;
  /** Why not, where the owner allows it but the sandbox cannot give it. */
  noNetworkWhy?: string;
}

export type SandboxPreference = 'auto' | 'none';

const PROBE_TIMEOUT_MS = 10_000;

/** Starts `/bin/true` in `sandbox` as a job would be started; rejects with why it did not run. */
export async function probeSandbox(sandbox: Sandbox, stateDir: string, network: boolean): Promise<void> {
  const probe = await mkdtemp(path.join(stateDir, 'probe-'));
  try {
    const folders = { workspace: probe, home: probe, tmp: probe };
    const limits = { memoryMiB: 64, processes: 16, openFiles: 64, fileSizeMiB: 1, diskMiB: 1 };
    const launch = sandbox.launch('/bin/true', [], { folders, network, limits });
    const child = spawn(launch.file, launch.args, {
      cwd: launch.cwd,
      env: {},
      stdio: ['ignore', 'ignore', 'pipe', ...Array<'pipe'>(launch.hold?.pipes ?? 0).fill('pipe')],
      timeout: PROBE_TIMEOUT_MS,
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    try {
      await launch.hold?.release(child);
    } catch (err) {
      child.kill('SIGKILL');
      await exited.catch(() => null);
      await launch.hold?.ended();
      throw err;
    }
    const code = await exited;
    await launch.hold?.ended();
    if (code !== 0) throw new Error(stderr.trim() || `it exited with ${code}`);
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

/**
 * The best sandbox this machine offers, checked by starting one (a kernel may forbid unprivileged user
 * namespaces). `stateDir` is where the backend keeps what it shows every job (e.g. a minimal /etc/passwd).
 */
export async function chooseSandbox(stateDir: string, preference: SandboxPreference = 'auto', allowNetwork = false): Promise<SandboxChoice> {
  // Without a sandbox the job is the owner's own process: it has the PC's network whenever the owner allows it.
  const unconfined = (why: string): SandboxChoice => ({ sandbox: noSandbox, why, network: allowNetwork });
  if (preference === 'none') return unconfined('turned off by the owner');
  if (process.platform === 'darwin') return chooseSeatbelt(stateDir, allowNetwork, unconfined);
  if (process.platform !== 'linux') return unconfined(`no sandbox backend for ${process.platform} yet`);
  const bwrap = findBubblewrap();
  if (!bwrap) return unconfined('bubblewrap is not installed (Debian/Ubuntu: apt install bubblewrap)');
  if (!existsSync('/usr/bin/prlimit')) return unconfined('prlimit (util-linux) is missing');
  const slirp4netns = allowNetwork ? findSlirp4netns() : null;
  let sandbox: Sandbox;
  try {
    sandbox = await bubblewrapSandbox(bwrap, stateDir, slirp4netns);
    await probeSandbox(sandbox, stateDir, false);
  } catch (err) {
    return unconfined(`bubblewrap does not work here: ${(err as Error).message}`);
  }
  const why = `bubblewrap at ${bwrap}`;
  if (!allowNetwork) return { sandbox, why, network: false };
  // Never the host's network instead: a job that asks for it is then not given to this worker at all.
  if (!slirp4netns) return { sandbox, why, network: false, noNetworkWhy: 'slirp4netns is not installed (Debian/Ubuntu: apt install slirp4netns)' };
  try {
    await probeSandbox(sandbox, stateDir, true);
    return { sandbox, why: `${why}, network through ${slirp4netns}`, network: true };
  } catch (err) {
    return { sandbox, why, network: false, noNetworkWhy: `slirp4netns does not work here: ${(err as Error).message}` };
  }
}

/** macOS: Seatbelt, if a job started under it runs (with network only where the owner allows it). */
async function chooseSeatbelt(stateDir: string, allowNetwork: boolean, unconfined: (why: string) => SandboxChoice): Promise<SandboxChoice> {
  if (!seatbeltAvailable(existsSync)) return unconfined('sandbox-exec is missing');
  try {
    await probeSandbox(seatbeltSandbox, stateDir, false);
  } catch (err) {
    return unconfined(`sandbox-exec does not work here: ${(err as Error).message}`);
  }
  return { sandbox: seatbeltSandbox, why: 'Seatbelt (sandbox-exec)', network: allowNetwork };
}
