// One process per folder: the coordinator on its data dir, an agent on its work dir. Two processes on one folder
// share a SQLite file or a worker identity and undo each other's work, so the second is refused before it
// touches anything. The lock is a file created with O_EXCL holding the holder's PID; a lock whose process is
// gone (kill -9, power loss) is taken over.
import { hostname } from 'node:os';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE_NAME = 'lock.pid';

/** The folder is in use by another live process. */
export class DirLockedError extends Error {
  override name = 'DirLockedError';
  constructor(
    readonly dir: string,
    readonly holderPid: number,
    what: string,
  ) {
    super(
      `${what} ${dir} is in use by process ${holderPid}; stop that process or use another folder ` +
        `(if that process is not cmd-executor, delete ${join(dir, LOCK_FILE_NAME)})`,
    );
  }
}

export interface DirLock {
  readonly file: string;
  /** Removes the lock file (only if it is still ours). */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  host: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(file: string): Promise<Holder | null> {
  try {
    const [pid, host] = (await readFile(file, 'utf8')).trim().split('\n');
    const number = Number(pid);
    return Number.isInteger(number) && number > 0 ? { pid: number, host: host ?? '' } : null;
  } catch {
    return null;
  }
}

/**
 * Takes the folder's lock or throws DirLockedError naming the holder. `what` names the folder in the message
 * ("data dir", "work dir"). The folder must exist.
 */
export async function lockDir(dir: string, what: string): Promise<DirLock> {
  const file = join(dir, LOCK_FILE_NAME);
  const me = `${process.pid}\n${hostname()}\n`;
  for (let tries = 0; ; tries++) {
    try {
      const handle = await open(file, 'wx', 0o644);
      await handle.writeFile(me);
      await handle.close();
      return {
        file,
        async release() {
          const holder = await readHolder(file);
          if (holder?.pid === process.pid) await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 5) throw err;
    }
    const holder = await readHolder(file);
    // A holder on another host (a folder on a network share) cannot be checked: it is taken as alive.
    if (holder && (holder.pid === process.pid || holder.host !== hostname() || alive(holder.pid))) {
      throw new DirLockedError(dir, holder.pid, what);
    }
    if (!holder && tries === 0) {
      // Half-written by a holder that is creating it right now: look again before calling it stale.
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    // Stale: moved aside under a unique name first, so two processes taking over at once cannot remove each
    // other's fresh lock.
    const aside = `${file}.stale.${process.pid}`;
    try {
      await rename(file, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = await readHolder(aside);
    if (moved && moved.pid !== holder?.pid) {
      // A fresh lock taken between our look and our move: put it back.
      await rename(aside, file).catch(() => {});
      throw new DirLockedError(dir, moved.pid, what);
    }
    await rm(aside, { force: true });
  }
}
