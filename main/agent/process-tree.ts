// A job's command runs as the leader of its own process group (POSIX), so one signal reaches everything it
// started: kill, stop and continue act on the whole tree. Windows has no process groups; `taskkill /T` walks
// the tree from the leader there, and suspending is not offered. A contained tree (a sandbox with its own PID
// namespace) is different: the job's processes are in a session of their own inside it, found as the leader's
// descendants, and everything in it dies with the leader.
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
  /** The leader is a sandbox whose PID namespace holds the job: when the leader exits, nothing of it is left. */
  contained?: boolean;
  /** Pipes the leader gets after stdin, stdout and stderr (fds 3, 4, ...; see Launch.hold). */
  extraPipes?: number;
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

export interface Descendant {
  pid: number;
  /** 1 for the leader's children, 2 for their children, ... */
  depth: number;
}

/** Reads `/proc/<pid>/task/<tid>/children` for every thread: children hang off the thread that forked them. */
async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const lists = await Promise.all(tasks.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')));
  return lists.flatMap((list) => list.split(' ').filter(Boolean).map(Number));
}

/** The processes below `pid` (Linux), by walking the children lists: no scan of every process on the PC. */
export async function descendantsOf(pid: number): Promise<Descendant[]> {
  const found: Descendant[] = [];
  let level = [pid];
  for (let depth = 1; level.length > 0; depth++) {
    level = (await Promise.all(level.map(childrenOf))).flat();
    for (const child of level) found.push({ pid: child, depth });
  }
  return found;
}

/**
 * Depth of the job's own processes below a contained leader: bwrap (the leader) starts the namespace's init
 * (also bwrap), whose child is the job's command.
 */
const CONTAINED_JOB_DEPTH = 2;

export class ProcessTree {
  readonly child: ChildProcess;
  /** Resolves when the leader exits (its children may live on; see `alive()`). */
  readonly exited: Promise<TreeExit>;
  private leaderExit: TreeExit | null = null;
  private signalling: Promise<void> = Promise.resolve();

  constructor(
    file: string,
    args: readonly string[],
    private readonly options: SpawnTreeOptions,
  ) {
    const [program, argv] = NICE ? [NICE, ['-n', '19', file, ...args]] : [file, args];
    this.child = spawn(program, argv, {
      cwd: options.cwd,
      env: options.env,
      detached: !isWindows, // a new process group; on Windows it would open a console window instead
      stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(options.extraPipes ?? 0).fill('pipe')],
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

  get contained(): boolean {
    return this.options.contained ?? false;
  }

  /** Whether anything of the tree still runs. */
  async alive(): Promise<boolean> {
    const pid = this.child.pid;
    if (pid === undefined) return false;
    if (isWindows || this.options.contained) return this.leaderExit === null;
    return (await livingGroupMembers(pid)).length > 0;
  }

  /** The job's own processes below a contained leader (not the sandbox's). */
  async jobProcesses(): Promise<number[]> {
    const pid = this.child.pid;
    if (pid === undefined || this.leaderExit) return [];
    return (await descendantsOf(pid)).filter((p) => p.depth >= CONTAINED_JOB_DEPTH).map((p) => p.pid);
  }

  /**
   * Signals every process of a contained job. For SIGSTOP the walk repeats until it finds no process it has
   * not stopped yet: one that forked during the walk is caught on the next pass, and a stopped one cannot fork.
   */
  private signalContained(signal: NodeJS.Signals): Promise<void> {
    // One walk at a time, in order: a resume must not overtake the suspend before it.
    this.signalling = this.signalling.then(() => this.walkAndSignal(signal));
    return this.signalling;
  }

  private async walkAndSignal(signal: NodeJS.Signals): Promise<void> {
    const signalled = new Set<number>();
    for (;;) {
      const fresh = (await this.jobProcesses()).filter((pid) => !signalled.has(pid));
      if (fresh.length === 0) return;
      for (const pid of fresh) {
        signalled.add(pid);
        try {
          process.kill(pid, signal);
        } catch {
          // it exited
        }
      }
      if (signal !== 'SIGSTOP') return;
    }
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
      // While the leader runs, its exit ends the wait at once (usually the whole tree is gone then): a cancel is
      // reported without waiting out a poll interval.
      let timer: NodeJS.Timeout | undefined;
      const poll = new Promise((resolve) => (timer = setTimeout(resolve, POLL_MS)));
      await (this.leaderExit ? poll : Promise.race([poll, this.exited]));
      clearTimeout(timer);
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
    } else if (this.options.contained) {
      // SIGTERM to the sandbox itself would end it at once; the job's processes get the polite signal.
      await this.signalContained('SIGTERM');
      await this.signalContained('SIGCONT');
      if (await this.goneWithin(graceMs)) return;
      this.signalGroup('SIGKILL'); // the sandbox's processes: its PID namespace goes with them
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
    if (this.options.contained) void this.signalContained('SIGSTOP');
    else this.signalGroup('SIGSTOP');
    return true;
  }

  resume(): boolean {
    if (isWindows) return false;
    if (this.options.contained) void this.signalContained('SIGCONT');
    else this.signalGroup('SIGCONT');
    return true;
  }
}

function taskkill(pid: number, force: boolean): Promise<void> {
  const args = ['/pid', String(pid), '/T', ...(force ? ['/F'] : [])];
  return new Promise((resolve) => execFile('taskkill', args, { windowsHide: true }, () => resolve()));
}
