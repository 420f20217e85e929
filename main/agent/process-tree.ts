// A job's command runs as the leader of its own process group (POSIX), so one signal reaches everything it
// started: kill, stop and continue act on the whole tree. Windows has no process groups; `taskkill /T` walks
// the tree from the leader there, and suspending is not offered.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';

const isWindows = process.platform === 'win32';
/**
 * POSIX `nice` starts the command at the lowest priority from its first instruction; renicing after the
 * spawn would leave whatever the shell forks in its first microseconds at normal priority.
 */
const NICE = isWindows ? undefined : ['/usr/bin/nice', '/bin/nice'].find((file) => existsSync(file));
const POLL_MS = 25;
/** After SIGKILL the kernel needs a moment; past this the tree is reported as surviving. */
const HARD_KILL_WAIT_MS = 5000;

export interface SpawnTreeOptions {
  cwd: string;
  env: Record<string, string>;
  /** Hand-quoted arguments for cmd.exe (`/s /c "..."`), as Node does for `shell: true`. */
  windowsVerbatimArguments?: boolean;
}

export interface TreeExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the program could not be started at all (missing shell, bad cwd). */
  spawnError: Error | null;
}

/**
 * Process ids of the group's members that are still running. Linux reads /proc so zombies do not count: an
 * orphan re-parented to an init that never reaps it (containers, microVMs) stays a zombie in the group, and
 * `kill(-pgid, 0)` would call that alive forever.
 */
export async function livingGroupMembers(pgid: number): Promise<number[]> {
  try {
    process.kill(-pgid, 0);
  } catch {
    return []; // not even a zombie: the common case once a command is done, without reading /proc
  }
  if (process.platform !== 'linux') return [pgid];
  const stats = await Promise.all(
    (await readdir('/proc'))
      .filter((name) => /^\d+$/.test(name))
      .map((name) => readFile(`/proc/${name}/stat`, 'utf8').catch(() => '')), // '' = exited while we looked
  );
  const members: number[] = [];
  for (const stat of stats) {
    if (!stat) continue;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number.parseInt(stat, 10));
  }
  return members;
}

export class ProcessTree {
  readonly child: ChildProcess;
  /** Resolves when the leader exits (its children may live on; see `alive()`). */
  readonly exited: Promise<TreeExit>;
  private leaderExit: TreeExit | null = null;

  constructor(file: string, args: readonly string[], options: SpawnTreeOptions) {
    const [program, argv] = NICE ? [NICE, ['-n', '19', file, ...args]] : [file, args];
    this.child = spawn(program, argv, {
      cwd: options.cwd,
      env: options.env,
      detached: !isWindows, // a new process group; on Windows it would open a console window instead
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      windowsVerbatimArguments: options.windowsVerbatimArguments ?? false,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (exitCode, signal) => {
        this.leaderExit = { exitCode, signal, spawnError: null };
        resolve(this.leaderExit);
      });
      this.child.once('error', (error) => {
        // 'error' without 'exit' means the spawn itself failed; an error after a start is a kill failure.
        if (this.child.pid === undefined) {
          this.leaderExit = { exitCode: null, signal: null, spawnError: error };
          resolve(this.leaderExit);
        }
      });
    });
    if (!NICE && this.child.pid !== undefined) {
      try {
        // Windows (or a POSIX without nice): the idle priority class / nice 19 right after the start; what
        // the command starts from then on inherits it.
        os.setPriority(this.child.pid, os.constants.priority.PRIORITY_LOW);
      } catch {
        // it already exited
      }
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether anything of the tree still runs. */
  async alive(): Promise<boolean> {
    const pid = this.child.pid;
    if (pid === undefined) return false;
    if (isWindows) return this.leaderExit === null;
    return (await livingGroupMembers(pid)).length > 0;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
  }

  private async goneWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!(await this.alive())) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /**
   * A polite signal, `graceMs` to finish, then a hard kill. Resolves when nothing of the tree runs any more;
   * rejects if something survived even the hard kill (it left the group, e.g. with setsid).
   */
  async kill(graceMs: number): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || !(await this.alive())) return;
    if (isWindows) {
      await taskkill(pid, false);
      if (await this.goneWithin(graceMs)) return;
      await taskkill(pid, true);
    } else {
      this.signalGroup('SIGTERM');
      this.signalGroup('SIGCONT'); // a stopped process acts on SIGTERM only once it runs again
      if (await this.goneWithin(graceMs)) return;
      this.signalGroup('SIGKILL');
    }
    if (!(await this.goneWithin(HARD_KILL_WAIT_MS))) {
      throw new Error(`process tree ${pid} survived a hard kill`);
    }
  }

  /** Freezes the whole tree where it stands (SIGSTOP); false where the platform cannot. */
  suspend(): boolean {
    if (isWindows) return false;
    this.signalGroup('SIGSTOP');
    return true;
  }

  resume(): boolean {
    if (isWindows) return false;
    this.signalGroup('SIGCONT');
    return true;
  }
}

function taskkill(pid: number, force: boolean): Promise<void> {
  const args = ['/pid', String(pid), '/T', ...(force ? ['/F'] : [])];
  return new Promise((resolve) => execFile('taskkill', args, { windowsHide: true }, () => resolve()));
}
