// The worker's identity (id + token from registration), kept in the state dir so a restarted agent is the
// same worker to the coordinator instead of a new one beside a ghost. Readable by its owner only.
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SavedIdentity {
  server: string;
  workerId: string;
  token: string;
  /** What it registered with; a change (name, labels, slots) means registering anew. */
  registration: string;
  /** The name the coordinator gave it. */
  name?: string;
}

export class IdentityFile {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'worker.json');
  }

  async load(): Promise<SavedIdentity | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return null;
    }
    try {
      const saved = JSON.parse(text) as Partial<SavedIdentity>;
      if (typeof saved.server === 'string' && typeof saved.workerId === 'string' && typeof saved.token === 'string') {
        return {
          server: saved.server,
          workerId: saved.workerId,
          token: saved.token,
          registration: String(saved.registration ?? ''),
          ...(typeof saved.name === 'string' ? { name: saved.name } : {}),
        };
      }
    } catch {
      // unreadable: register anew
    }
    return null;
  }

  async save(identity: SavedIdentity): Promise<void> {
    const partial = `${this.file}.${process.pid}.tmp`;
    await writeFile(partial, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
    await chmod(partial, 0o600); // the mode of writeFile is masked by the umask
    await rename(partial, this.file);
  }

  async forget(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
