// Runs a job's commands one after the other in its workspace, each in its own process tree, and tells the
// hooks what happens; the hooks never make it wait (reporting to the coordinator is someone else's job).
import type { OutputStream } from '../../protocol/api';
import { descendantsOf, ProcessTree } from './process-tree';
import { noSandbox, type JobFolders, type Sandbox, type SandboxedJob } from './sandbox';
import type { RunningProcesses } from './sandbox/leftovers';
import { LimitWatcher } from './sandbox/limit-watcher';

/**
 * The only variables of the agent's own environment a job sees; the rest (tokens, proxies, the owner's
 * HOME and temp folder) stays home. HOME, USERPROFILE, TEMP, TMP and TMPDIR are the job's own folders.
 */
export const ENV_ALLOW_LIST = ['PATH', 'LANG', 'LC_ALL', 'SystemRoot', 'ComSpec', 'PATHEXT'] as const;

export interface RunnerJob {
  id: string;
  attempt: number;
  commands: readonly string[];
  shell: string | null;
  env: Readonly<Record<string, string>>;
  continueOnError: boolean;
}

export interface CommandEnd {
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
}

export interface CommandOutcome extends CommandEnd {
  index: number;
  startedAt: number;
}

export interface RunnerHooks {
  commandStarted(index: number, startedAt: number): void;
  output(stream: OutputStream, data: Buffer): void;
  commandEnded(index: number, result: CommandEnd): void;
}

export interface RunResult {
  /** Every command that ran exited 0 (and none was cut short by `stop()`). */
  succeeded: boolean;
  /** The first failing command's exit code, 0 on success, null when it died of a signal or never started. */
  exitCode: number | null;
  commands: CommandOutcome[];
  /** `stop()` ended the run early. */
  stopped: boolean;
  /** The limit the job passed, in words ("memory limit 512 MiB reached"); it was stopped for it. */
  limitReached: string | null;
}

export interface RunnerOptions {
  killGraceMs: number;
  /** Default: none (the job runs as the agent's user). */
  sandbox?: Sandbox;
  /** Measured against the limits (the folder holding the job's folders); default: not watched. */
  jobDir?: string;
  /** Where each command's process is noted while it runs, for a restarted agent to end (see leftovers.ts). */
  running?: RunningProcesses;
  /** Where the allow-listed variables come from (tests pass their own). */
  baseEnv?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

/** Exit code a shell gives for "command not found"; used when the shell itself could not start. */
const CANNOT_START = 127;
/** How long to wait for a finished command's last output to drain from its pipes. */
const DRAIN_MS = 5000;

export interface ShellInvocation {
  file: string;
  args: string[];
  windowsVerbatimArguments: boolean;
}

/**
 * The program and arguments that run `command`: `/bin/sh -c` on POSIX, `cmd.exe /d /s /c` on Windows, or the
 * job's `shell` (a program plus optional arguments separated by spaces, e.g. `bash -eo pipefail`), which gets
 * `-c` unless it is cmd (`/d /s /c`) or PowerShell (`-NoProfile -NonInteractive -Command`).
 */
export function shellInvocation(shell: string | null, command: string, platform: NodeJS.Platform, comSpec?: string): ShellInvocation {
  const words = shell?.trim().split(/\s+/) ?? [platform === 'win32' ? (comSpec ?? 'cmd.exe') : '/bin/sh'];
  const [file, ...extra] = words as [string, ...string[]];
  const program = file.split(/[\\/]/).pop()!.toLowerCase().replace(/\.exe$/, '');
  if (program === 'cmd') {
    return { file, args: [...extra, '/d', '/s', '/c', `"${command}"`], windowsVerbatimArguments: true };
  }
  if (program === 'powershell' || program === 'pwsh') {
    return { file, args: [...extra, '-NoProfile', '-NonInteractive', '-Command', command], windowsVerbatimArguments: false };
  }
  return { file, args: [...extra, '-c', command], windowsVerbatimArguments: false };
}

/**
 * The allow-listed part of `base`, the job's home and temp folder (as it sees them), then the job's own
 * variables, then the two the agent always sets.
 */
export function jobEnvironment(base: NodeJS.ProcessEnv, job: RunnerJob, folders: JobFolders): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ENV_ALLOW_LIST) {
    const value = base[name];
    if (value !== undefined) env[name] = value;
  }
  const { home, tmp } = folders;
  Object.assign(env, { HOME: home, USERPROFILE: home, TMPDIR: tmp, TEMP: tmp, TMP: tmp });
  return { ...env, ...job.env, CMDX_JOB_ID: job.id, CMDX_ATTEMPT: String(job.attempt) };
}

export class JobRunner {
  private readonly trees: ProcessTree[] = [];
  /** Trees whose leader is noted in `options.running`: the note goes when nothing of the tree is left. */
  private readonly noted = new Set<ProcessTree>();
  private current: ProcessTree | null = null;
  private stopped = false;
  private suspended = false;
  private outputPaused = false;
  private resumed: (() => void) | null = null;
  private readonly env: Record<string, string>;
  private readonly platform: NodeJS.Platform;
  private readonly sandbox: Sandbox;
  private limitReached: string | null = null;

  constructor(
    private readonly job: RunnerJob,
    private readonly place: SandboxedJob,
    private readonly hooks: RunnerHooks,
    private readonly options: RunnerOptions,
  ) {
    this.sandbox = options.sandbox ?? noSandbox;
    this.env = jobEnvironment(options.baseEnv ?? process.env, job, this.sandbox.visibleFolders(place));
    this.platform = options.platform ?? process.platform;
  }

  /** The processes of the running command (for the limit watcher). */
  private async processes(): Promise<number[]> {
    const tree = this.current;
    if (!tree?.pid) return [];
    return tree.contained ? tree.jobProcesses() : [tree.pid, ...(await descendantsOf(tree.pid)).map((p) => p.pid)];
  }

  async run(): Promise<RunResult> {
    const commands: CommandOutcome[] = [];
    let firstFailure: CommandOutcome | null = null;
    const watcher = this.options.jobDir
      ? new LimitWatcher({
          limits: this.place.limits,
          jobDir: this.options.jobDir,
          processes: () => this.processes(),
          onBreach: (reason) => {
            this.limitReached = reason;
            this.hooks.output('stderr', Buffer.from(`\n[cmd-executor: ${reason}; the job is stopped]\n`));
            // No grace: a job past its memory or disk limit must not go on growing while it is asked to stop.
            void this.stop(0);
          },
        })
      : null;
    watcher?.start();
    try {
      for (let index = 0; index < this.job.commands.length; index++) {
        await this.whileSuspended();
        if (this.stopped) break;
        const outcome = await this.runCommand(index, this.job.commands[index]!);
        commands.push(outcome);
        if (outcome.exitCode !== 0 && !firstFailure) firstFailure = outcome;
        if (firstFailure && !this.job.continueOnError) break;
      }
    } finally {
      watcher?.stop();
      await this.killLeftovers();
    }
    return {
      succeeded: !firstFailure && !this.stopped,
      exitCode: firstFailure ? firstFailure.exitCode : this.stopped ? null : 0,
      commands,
      stopped: this.stopped,
      limitReached: this.limitReached,
    };
  }

  private async runCommand(index: number, command: string): Promise<CommandOutcome> {
    const shell = shellInvocation(this.job.shell, command, this.platform, this.env.ComSpec);
    const startedAt = Date.now();
    const clock = performance.now();
    this.hooks.commandStarted(index, startedAt);
    const launch = this.sandbox.launch(shell.file, shell.args, this.place);
    const tree = new ProcessTree(launch.file, launch.args, {
      cwd: launch.cwd,
      env: this.env,
      windowsVerbatimArguments: shell.windowsVerbatimArguments,
      contained: launch.contained,
      extraPipes: launch.hold?.pipes ?? 0,
    });
    this.trees.push(tree);
    this.current = tree;
    const { running } = this.options;
    if (tree.pid !== undefined && running) {
      try {
        running.started(tree.pid, launch.contained);
        this.noted.add(tree);
      } catch (err) {
        this.hooks.output('stderr', Buffer.from(`cmd-executor: could not note the job's process: ${(err as Error).message}\n`));
      }
    }
    const closed = new Promise<void>((resolve) => tree.child.once('close', () => resolve()));
    tree.child.stdout?.on('data', (data: Buffer) => this.hooks.output('stdout', data));
    tree.child.stderr?.on('data', (data: Buffer) => this.hooks.output('stderr', data));
    if (this.outputPaused) this.setReading(tree, false);
    if (launch.hold && tree.pid !== undefined) {
      try {
        await launch.hold.release(tree.child);
      } catch (err) {
        // Stopped meanwhile: the sandbox was killed under its hold, nothing to tell.
        if (!this.stopped) this.hooks.output('stderr', Buffer.from(`cmd-executor: the job's network could not be set up: ${(err as Error).message}\n`));
        await tree.kill(0).catch(() => {});
      }
    }
    // The suspension may have come between the check in run() and this spawn.
    if (this.suspended) tree.suspend();
    const exit = await tree.exited;
    await launch.hold?.ended();
    this.current = null;
    if (exit.spawnError) {
      this.hooks.output('stderr', Buffer.from(`cmd-executor: cannot start ${shell.file}: ${exit.spawnError.message}\n`));
    } else if (!(await tree.alive())) {
      // Nothing holds the pipes any more, so the last output is on its way: let it arrive before the end.
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, DRAIN_MS))]);
    }
    const result: CommandEnd = {
      exitCode: exit.spawnError ? CANNOT_START : exit.exitCode,
      signal: exit.signal,
      durationMs: Math.round(performance.now() - clock),
    };
    this.hooks.commandEnded(index, result);
    return { index, startedAt, ...result };
  }

  /**
   * Stops reading the commands' output pipes (backpressure: a command that prints more blocks until resumeOutput).
   * Node reads a paused pipe to its end once the command exits, so up to a pipe's worth can still arrive.
   */
  pauseOutput(): void {
    this.outputPaused = true;
    for (const tree of this.trees) this.setReading(tree, false);
  }

  resumeOutput(): void {
    this.outputPaused = false;
    for (const tree of this.trees) this.setReading(tree, true);
  }

  private setReading(tree: ProcessTree, reading: boolean): void {
    for (const pipe of [tree.child.stdout, tree.child.stderr]) {
      if (reading) pipe?.resume();
      else pipe?.pause();
    }
  }

  /** Background processes a command left behind end with the job: no orphan outlives it. */
  private async killLeftovers(): Promise<void> {
    await Promise.all(
      this.trees.map((tree) =>
        tree.kill(this.options.killGraceMs).catch((err: Error) => {
          this.hooks.output('stderr', Buffer.from(`cmd-executor: ${err.message}\n`));
        }),
      ),
    );
    for (const tree of this.trees) {
      tree.child.stdout?.destroy();
      tree.child.stderr?.destroy();
    }
    const { running } = this.options;
    await Promise.all([...this.noted].map((tree) => running!.ended(tree.pid!)));
  }

  /** Kills the running command's tree (polite signal, `graceMs`, hard kill); no further command starts. */
  async stop(graceMs = this.options.killGraceMs): Promise<void> {
    this.stopped = true;
    this.releaseSuspension();
    await this.current?.kill(graceMs);
  }

  /** Freezes the running tree; commands not yet started wait. False where the platform cannot freeze a tree. */
  suspend(): boolean {
    if (this.platform === 'win32') return false;
    this.suspended = true;
    this.current?.suspend();
    return true;
  }

  resume(): void {
    if (!this.suspended) return;
    this.current?.resume();
    this.releaseSuspension();
  }

  private releaseSuspension(): void {
    this.suspended = false;
    this.resumed?.();
    this.resumed = null;
  }

  private async whileSuspended(): Promise<void> {
    while (this.suspended && !this.stopped) {
      await new Promise<void>((resolve) => {
        this.resumed = resolve;
      });
    }
  }
}
