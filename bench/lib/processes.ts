// The processes a bench case (and the fault suite) runs: the real `node coordinator`, real agents
// (`bin/worker.js`), the load generator and the baseline server (TypeScript run through tsx). Each is its own
// OS process, so the coordinator's RSS and CPU are its own, load never shares an event loop with what it
// measures, and a fault test can kill -9 or freeze any of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const KEPT_OUTPUT_CHARS = 64 * 1024;

/** Children still running: killed if the bench itself exits early (Ctrl-C, a crash), so none is left behind. */
const living = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

export class ChildRun {
  private text = '';
  private readonly listeners = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.text = (this.text + chunk.toString()).slice(-KEPT_OUTPUT_CHARS);
      for (const listener of this.listeners) listener();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    living.add(child);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        living.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The last 64 KiB it printed (stdout and stderr interleaved). */
  get output(): string {
    return this.text;
  }

  /** Resolves with the first match of `pattern` in its output; rejects if it exits first or the time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error, match?: RegExpExecArray) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (error) reject(error);
        else resolve(match!);
      };
      const check = () => {
        const match = pattern.exec(this.text);
        if (match) finish(undefined, match);
      };
      const timer = setTimeout(
        () => finish(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms; it printed:\n${this.text.slice(-2000)}`)),
        timeoutMs,
      );
      void this.exited.then(({ code, signal }) =>
        finish(new Error(`${this.name} exited (${signal ?? code}) before printing ${pattern}:\n${this.text.slice(-2000)}`)),
      );
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal`, waits for the exit, and kills it hard if it takes longer than `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts `command` through sh with the open-file limit raised to the hard limit (10,000 long polls need fds). */
function spawnWithFdLimit(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildRun {
  const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', command, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new ChildRun(name, child);
}

export interface CoordinatorRun {
  run: ChildRun;
  url: string;
  adminToken: string;
  joinToken: string;
}

export interface CoordinatorOptions {
  dataDir: string;
  /** Default 0: a free port. A restart passes the port of the run before, so agents find it again. */
  port?: number;
  /** Tokens of a run before (a restart on the same data dir); new ones otherwise. */
  tokens?: { adminToken: string; joinToken: string };
  /** More `node coordinator` flags. */
  args?: string[];
  /** Flags for node itself, such as --cpu-prof. */
  nodeArgs?: string[];
}

/** The real `node coordinator` on 127.0.0.1, resolved once it prints the URL it serves. */
export async function startCoordinator(options: CoordinatorOptions): Promise<CoordinatorRun> {
  const adminToken = options.tokens?.adminToken ?? `cmdx_admin_bench${randomBytes(12).toString('hex')}`;
  const joinToken = options.tokens?.joinToken ?? `cmdx_join_bench${randomBytes(12).toString('hex')}`;
  const run = spawnWithFdLimit('coordinator', process.execPath, [
    ...(options.nodeArgs ?? []),
    'coordinator/index.js',
    '--port', String(options.port ?? 0),
    '--data-dir', options.dataDir,
    '--admin-token', adminToken,
    '--join-token', joinToken,
    ...(options.args ?? []),
  ]);
  const match = await run.waitFor(/serving (https?:\/\/\S+)/, 60_000);
  return { run, url: match[1]!, adminToken, joinToken };
}

/** A TypeScript file of the bench run as its own process; it reads `config` as JSON from argv[2]. */
export function startTsProcess(name: string, file: string, config: unknown): ChildRun {
  return spawnWithFdLimit(name, process.execPath, ['--import', 'tsx', fileURLToPath(new URL(`../${file}`, import.meta.url)), JSON.stringify(config)]);
}

/** Any other program of the bench (such as redis-server) as its own process. */
export function startProgram(name: string, command: string, args: string[]): ChildRun {
  return spawnWithFdLimit(name, command, args);
}

export interface AgentOptions {
  url: string;
  joinToken: string;
  name: string;
  slots: number;
  workDir: string;
  /** More `bin/worker.js` flags. */
  args?: string[];
  nodeArgs?: string[];
}

/** A real headless agent: `node bin/worker.js`. */
export function startAgent(options: AgentOptions): ChildRun {
  return spawnWithFdLimit(`agent ${options.name}`, process.execPath, [
    ...(options.nodeArgs ?? []),
    'bin/worker.js',
    '--server', options.url,
    '--join-token', options.joinToken,
    '--name', options.name,
    '--slots', String(options.slots),
    '--work-dir', options.workDir,
    ...(options.args ?? []),
  ]);
}

/** Resident set size of another process, in bytes (Linux /proc; NaN where there is none). */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kib ? Number(kib) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const CLOCK_TICKS_PER_SEC = 100;

/** A process's /proc stat fields from the state on (field 3 is [0]), or null when it is gone. */
function statFields(pid: number | string): string[] | null {
  try {
    // The command name (which may hold spaces) ends at the last ') '.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU time (user + system) another process has used so far, in seconds (Linux /proc; NaN where there is none). */
export function cpuSeconds(pid: number): number {
  // utime and stime are fields 14 and 15.
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC : Number.NaN;
}

/**
 * CPU time of a process and all its children, living and ended, in seconds: how a PostgreSQL cluster's
 * backends (children of the postmaster, one per connection) are counted whatever connects and leaves.
 */
export function processTreeCpuSeconds(pid: number): number {
  const own = statFields(pid);
  if (!own) return Number.NaN;
  // Its own utime, stime, and the cutime, cstime of children that ended (fields 14 to 17).
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    // The parent's id is field 4.
    if (fields && Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS_PER_SEC;
}

/** Samples a process's RSS on a timer and keeps the peak. */
export class RssSampler {
  readonly start: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 25,
  ) {
    this.start = rssBytes(pid);
    this.peak = this.start;
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const now = rssBytes(this.pid);
    if (now > this.peak) this.peak = now;
  }

  stop(): { start: number; peak: number; end: number } {
    clearInterval(this.timer);
    this.sample();
    return { start: this.start, peak: this.peak, end: rssBytes(this.pid) };
  }
}

/** JSON a child process prints as its last stdout line: how the load and baseline processes report back. */
export function lastJsonLine<T>(run: ChildRun, marker: string): T {
  const line = run.output
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(marker));
  if (!line) throw new Error(`${run.name} printed no ${marker} line:\n${run.output.slice(-2000)}`);
  return JSON.parse(line.slice(marker.length)) as T;
}
