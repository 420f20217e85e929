// What the file and folder pickers hand to the renderer: the bytes (the sandboxed renderer cannot read paths), within
// the same caps the coordinator applies, with a clear refusal past them. Links are skipped, never followed, so a
// picked folder cannot carry files from outside it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PICK_LIMITS, type PickedFile, type PickedFolder } from '../protocol/ipc';

export interface PickLimits {
  maxBytes: number;
  maxFiles: number;
}
import { IpcUserError } from './ipc';

const size = (bytes: number): string =>
  bytes >= 1024 ** 2 ? `${Math.round(bytes / 1024 ** 2)} MiB` : bytes >= 1024 ? `${Math.round(bytes / 1024)} KiB` : `${bytes} bytes`;

export async function readPickedFile(file: string, limits: PickLimits = PICK_LIMITS): Promise<PickedFile> {
  const stat = await fs.stat(file);
  if (!stat.isFile()) throw new IpcUserError('not_a_file', `${path.basename(file)} is not a regular file`);
  if (stat.size > limits.maxBytes) {
    throw new IpcUserError('too_big', `${path.basename(file)} is ${size(stat.size)}; the limit is ${size(limits.maxBytes)}`);
  }
  const bytes = await fs.readFile(file);
  return { name: path.basename(file), size: bytes.length, bytes: new Uint8Array(bytes) };
}

export async function readPickedFolder(folder: string, limits: PickLimits = PICK_LIMITS): Promise<PickedFolder> {
  const files: PickedFolder['files'] = [];
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
      } else if (entry.isFile()) {
        if (files.length >= limits.maxFiles) {
          throw new IpcUserError('too_many_files', `${path.basename(folder)} has more than ${limits.maxFiles} files`);
        }
        const bytes = await fs.readFile(full);
        total += bytes.length;
        if (total > limits.maxBytes) {
          throw new IpcUserError('too_big', `${path.basename(folder)} holds more than ${size(limits.maxBytes)}`);
        }
        files.push({ path: path.relative(folder, full).split(path.sep).join('/'), bytes: new Uint8Array(bytes) });
      }
    }
  };
  await walk(folder);
  return { name: path.basename(folder), files };
}
