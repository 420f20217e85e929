// The files of a folder matching globs, zipped: a job's `outputs[]` after its commands (artifacts for the
// submitter), and a folder the submit CLI sends. Only regular files that really lie inside the folder are
// taken; a symlink (or a path through a linked folder) could otherwise smuggle other files out.
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { writeZip } from './zip';

export interface ZippedFiles {
  files: number;
  bytes: number;
}

/** Zips the matching files into `destZip` (which must lie outside `folder`); null when nothing matched. */
export async function zipMatchingFiles(folder: string, globs: readonly string[], destZip: string): Promise<ZippedFiles | null> {
  if (globs.length === 0) return null;
  const root = await realpath(folder);
  const matches = await glob([...globs], { cwd: root, onlyFiles: true, followSymbolicLinks: false, dot: true });
  const files = [];
  let bytes = 0;
  for (const name of matches.sort()) {
    const file = path.join(root, name);
    const info = await lstat(file).catch(() => null);
    if (!info?.isFile()) continue;
    const real = await realpath(file).catch(() => null);
    if (!real || !real.startsWith(root + path.sep)) continue;
    files.push({ path: real, name: name.split(path.sep).join('/') });
    bytes += info.size;
  }
  if (files.length === 0) return null;
  await writeZip(files, destZip);
  return { files: files.length, bytes };
}
