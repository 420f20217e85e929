// ZIPs in and out of the agent. In: a job's bundle is checked entry by entry before a single byte is written
// (the rules of common/zip-inspect, which the coordinator applies to uploads too), then extracted with
// yauzl 3, which checks every entry's real size against its header while it inflates.
// Why not extract-zip 2.0.1 for the writing (with yauzl pinned to 3 through npm `overrides`, it too rejects an
// entry that lies about its size): of our three guarantees it keeps two (set-uid/set-gid/sticky bits stripped:
// it masks modes with 0o777; real-path check: it resolves each entry's parent folder) but loses exclusive
// writes. It opens each file with createWriteStream(dest) without `wx`, which follows whatever already sits
// at dest: an archive holding a symlink `x -> /outside` and then a file `x` writes outside the workspace.
// Ours creates every file with O_EXCL, so that write fails. So we keep our writer.
// Out: artifacts and submitted folders are written with yazl.
import { createWriteStream } from 'node:fs';
import { mkdir, realpath, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { DEFAULT_ZIP_LIMITS, inspectZip, ZipRejectedError, type ZipLimits, type ZipSummary } from '../../common/zip-inspect';

export { ZipRejectedError, DEFAULT_ZIP_LIMITS, type ZipLimits };

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const MAX_LINK_TARGET_BYTES = 4096;

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => (err || !zip ? reject(err) : resolve(zip))),
  );
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (err, stream) => (err || !stream ? reject(err ?? new Error(`cannot read ${entry.fileName}`)) : resolve(stream))),
  );
}

async function readLinkTarget(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of await openEntry(zip, entry)) parts.push(chunk as Buffer);
  return Buffer.concat(parts).subarray(0, MAX_LINK_TARGET_BYTES).toString('utf8');
}

const isLink = (entry: yauzl.Entry) => ((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK;

/** Calls `visit` for each entry in archive order, one at a time. */
async function forEachEntry(file: string, visit: (zip: yauzl.ZipFile, entry: yauzl.Entry) => Promise<void>): Promise<void> {
  const zip = await openZip(file);
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        visit(zip, entry).then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** Writes one (already checked) entry under `root`; files are created exclusively, so nothing is overwritten. */
async function writeEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, root: string): Promise<void> {
  const dest = path.join(root, entry.fileName);
  const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
  if ((mode & S_IFMT) === S_IFDIR || entry.fileName.endsWith('/')) {
    await mkdir(dest, { recursive: true });
    return;
  }
  await mkdir(path.dirname(dest), { recursive: true });
  // The checks above make this hold; it is verified anyway because a mistake here writes outside.
  const folder = await realpath(path.dirname(dest));
  if (folder !== root && !folder.startsWith(root + path.sep)) {
    throw new ZipRejectedError(`entry "${entry.fileName}" would land outside the folder`);
  }
  if (isLink(entry)) {
    await symlink(await readLinkTarget(zip, entry), dest);
    return;
  }
  // No set-uid/set-gid/sticky bits from an archive; no mode at all (Windows-made ZIPs) means rw-r--r--.
  await pipeline(await openEntry(zip, entry), createWriteStream(dest, { mode: mode & 0o777 || 0o644, flags: 'wx' }));
}

/**
 * Extracts `zipFile` into `destDir` after checking every entry; on a refusal by the checks nothing has
 * been written. Throws ZipRejectedError with a message for the submitter.
 */
export async function extractZipSafely(zipFile: string, destDir: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<ZipSummary> {
  const summary = await inspectZip(zipFile, limits);
  await mkdir(destDir, { recursive: true });
  const root = await realpath(destDir);
  try {
    await forEachEntry(zipFile, (zip, entry) => writeEntry(zip, entry, root));
  } catch (err) {
    if (err instanceof ZipRejectedError) throw err;
    // e.g. an entry whose real size differs from its header (a bomb in disguise), or a duplicate name.
    throw new ZipRejectedError(`extracting the archive failed: ${(err as Error).message}`);
  }
  return summary;
}

export interface ZipInput {
  /** The file on disk. */
  path: string;
  /** Its name inside the archive, with forward slashes. */
  name: string;
}

/** Writes `files` into a new ZIP at `dest`, streaming each file from disk. */
export async function writeZip(files: readonly ZipInput[], dest: string): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const file of files) zip.addFile(file.path, file.name);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(dest));
}
