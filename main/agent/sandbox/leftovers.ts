// What a killed agent may leave running. The sandbox dies with its agent (--die-with-parent), but a worker
// without one, or a kernel that did not deliver the parent-death signal, could leave a job's processes
// behind; a restarted agent must end them before it releases or takes a lease, or the old run and the new
// one would run the same job at once. Each command's process is noted in the state folder while it runs,
// with its start time so a recycled pid is never mistaken for it (Linux: /proc/<pid>/stat).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { descendantsOf, livingGroupMembers } from '../process-tree';

interface RunningRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: ticks since boot when it started. */
  startTicks: string;
  /** A sandbox leader (its PID namespace dies with it) rather than a process group leader. */
  contained: boolean;
}

/** When a living process started; null once it is gone (a zombie counts as gone: it runs nothing). */
async function startTicks(pid: number): Promise<string | null> {
  return ticksOf(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null));
}

function ticksOf(stat: string | null): string | null {
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? null : (fields[19] ?? null);
}

const KILL_WAIT_MS = 5000;

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

export class RunningProcesses {
  private readonly tracks = process.platform === 'linux';

  constructor(private readonly dir: string) {}

  private fileOf(pid: number): string {
    return path.join(this.dir, `${pid}.json`);
  }

  /**
   * Notes a command's process. Synchronous on purpose: the note is on disk before the agent reads a byte of the
   * command's output, so an agent killed the moment the job shows life still knows what to end.
   */
  started(pid: number, contained: boolean): void {
    if (!this.tracks) return;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return; // it is over already
    }
    const ticks = ticksOf(stat);
    if (!ticks) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const record: RunningRecord = { pid, startTicks: ticks, contained };
    writeFileSync(this.fileOf(pid), JSON.stringify(record), { mode: 0o600 });
  }

  async ended(pid: number): Promise<void> {
    await rm(this.fileOf(pid), { force: true });
  }

  /**
   * Kills whatever an earlier run of the agent left (SIGKILL: its agent is gone, nobody waits for its output)
   * and waits until it is gone. Returns how many job processes it found alive.
   */
  async killLeftovers(): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    let found = 0;
    for (const name of names) {
      const record = JSON.parse(await readFile(path.join(this.dir, name), 'utf8').catch(() => 'null')) as RunningRecord | null;
      if (record && (await startTicks(record.pid)) === record.startTicks) {
        found++;
        // Everything below the leader first, so nothing is re-parented out of reach while the leader dies.
        for (const { pid } of await descendantsOf(record.pid)) kill(pid);
        if (record.contained) kill(record.pid);
        else kill(-record.pid);
        const deadline = Date.now() + KILL_WAIT_MS;
        const alive = async () =>
          record.contained ? (await startTicks(record.pid)) === record.startTicks : (await livingGroupMembers(record.pid)).length > 0;
        while (Date.now() < deadline && (await alive())) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await rm(path.join(this.dir, name), { force: true });
    }
    return found;
  }
}
