// The sandbox between the agent and a job's processes: one interface, one backend per OS, chosen once when the
// agent starts and reported to the pool. Linux: bubblewrap (namespaces). macOS (Seatbelt) and Windows (Job
// Objects) plug in here as further backends; until they do, those workers say `none` and run only trusted
// submitters' jobs.
import { existsSync } from 'node:fs';
import type { JobLimits, SandboxKind } from '../../../protocol/api';
import { bubblewrapSandbox, findBubblewrap } from './bubblewrap';

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
}

export type SandboxPreference = 'auto' | 'none';

/**
 * The best sandbox this machine offers, checked by starting one (a kernel may forbid unprivileged user
 * namespaces). `stateDir` is where the backend keeps what it shows every job (e.g. a minimal /etc/passwd).
 */
export async function chooseSandbox(stateDir: string, preference: SandboxPreference = 'auto'): Promise<SandboxChoice> {
  if (preference === 'none') return { sandbox: noSandbox, why: 'turned off by the owner' };
  if (process.platform !== 'linux') {
    return { sandbox: noSandbox, why: `no sandbox backend for ${process.platform} yet` };
  }
  const bwrap = findBubblewrap();
  if (!bwrap) return { sandbox: noSandbox, why: 'bubblewrap is not installed (Debian/Ubuntu: apt install bubblewrap)' };
  if (!existsSync('/usr/bin/prlimit')) return { sandbox: noSandbox, why: 'prlimit (util-linux) is missing' };
  try {
    const sandbox = await bubblewrapSandbox(bwrap, stateDir);
    return { sandbox, why: `bubblewrap at ${bwrap}` };
  } catch (err) {
    return { sandbox: noSandbox, why: `bubblewrap does not work here: ${(err as Error).message}` };
  }
}
