// Reads a ZIP's central directory (and the targets of its symlinks) without extracting anything, and refuses
// archives that would write outside their folder or blow up on extraction. The coordinator checks every
// upload with it; the agent checks again before it extracts (it may talk to an older coordinator).
import yauzl from 'yauzl';

export interface ZipLimits {
  maxEntries: number;
  maxUncompressedBytes: number;
  /** Uncompressed/compressed size above which one large entry counts as a bomb. */
  maxCompressionRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 20_000,
  maxUncompressedBytes: 4 * 1024 ** 3,
  maxCompressionRatio: 1000,
};

export interface ZipSummary {
  entries: number;
  uncompressedBytes: number;
}

/** The archive is unsafe or unreadable; `message` says why in words a submitter understands. */
export class ZipRejectedError extends Error {
  override name = 'ZipRejectedError';
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const RATIO_CHECK_FLOOR = 1024 * 1024;

/** Why a path inside the archive is unsafe, or null when it stays inside the extraction folder. */
export function unsafeEntryPath(name: string): string | null {
  const path = name.replace(/\\/g, '/');
  if (path.includes('\0')) return 'contains a NUL character';
  if (path.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(path)) return 'starts with a drive letter';
  let depth = 0;
  for (const segment of path.split('/')) {
    if (segment === '..') depth--;
    else if (segment !== '' && segment !== '.') depth++;
    if (depth < 0) return 'climbs out of the folder with ..';
  }
  return null;
}

/** Whether a symlink stored at `entryName` pointing at `target` stays inside the extraction folder. */
export function symlinkEscapes(entryName: string, target: string): boolean {
  const normalized = target.replace(/\\/g, '/');
  if (normalized.startsWith('/') || /^[A-Za-z]:/.test(normalized)) return true;
  const parent = entryName.replace(/\\/g, '/').split('/').slice(0, -1).join('/');
  return unsafeEntryPath(parent ? `${parent}/${normalized}` : normalized) !== null;
}

/** Path segments as a key; lower-cased because Windows and macOS file systems ignore case. */
const keyOf = (segments: readonly string[]) => segments.join('/').toLowerCase();

function segmentsOf(name: string): string[] {
  return name
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
}

/**
 * Refuses entries written through a symlink of the same archive, and links whose target passes through
 * another link: text alone cannot tell where those end up (`a -> ..` then `a/b -> ..` climbs two levels).
 */
function refuseLinksThroughLinks(names: readonly string[], links: readonly { name: string; target: string }[]): void {
  const linkKeys = new Set(links.map((l) => keyOf(segmentsOf(l.name))));
  for (const name of names) {
    const segments = segmentsOf(name);
    for (let depth = 1; depth < segments.length; depth++) {
      if (linkKeys.has(keyOf(segments.slice(0, depth)))) {
        throw new ZipRejectedError(`entry "${name}" would be written through the symlink "${segments.slice(0, depth).join('/')}"`);
      }
    }
  }
  for (const link of links) {
    const at = segmentsOf(link.name).slice(0, -1);
    for (const segment of segmentsOf(link.target)) {
      if (at.length > 0 && linkKeys.has(keyOf(at))) {
        throw new ZipRejectedError(`symlink "${link.name}" points through another symlink ("${at.join('/')}")`);
      }
      if (segment === '..') at.pop();
      else at.push(segment);
    }
  }
}

function open(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) =>
      err || !zip ? reject(new ZipRejectedError(`not a readable ZIP archive (${err?.message ?? 'unknown error'})`)) : resolve(zip),
    );
  });
}

function readSmallEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(new ZipRejectedError(`cannot read "${entry.fileName}": ${err?.message}`));
      const parts: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          stream.destroy();
          reject(new ZipRejectedError(`symlink "${entry.fileName}" has an implausibly long target`));
        } else parts.push(chunk);
      });
      stream.on('error', (e) => reject(new ZipRejectedError(`cannot read "${entry.fileName}": ${e.message}`)));
      stream.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    });
  });
}

export async function inspectZip(file: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<ZipSummary> {
  const zip = await open(file);
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new ZipRejectedError(`the archive has ${zip.entryCount} entries; the limit is ${limits.maxEntries}`);
  }
  let entries = 0;
  let uncompressedBytes = 0;
  const names: string[] = [];
  const links: { name: string; target: string }[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err instanceof ZipRejectedError ? err : new ZipRejectedError(err.message));
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        (async () => {
          entries++;
          names.push(entry.fileName);
          const why = unsafeEntryPath(entry.fileName);
          if (why) throw new ZipRejectedError(`entry "${entry.fileName}" ${why}`);
          uncompressedBytes += entry.uncompressedSize;
          if (uncompressedBytes > limits.maxUncompressedBytes) {
            throw new ZipRejectedError(
              `the archive expands to more than ${limits.maxUncompressedBytes} bytes (a zip bomb, or simply too big)`,
            );
          }
          if (
            entry.uncompressedSize > RATIO_CHECK_FLOOR &&
            entry.uncompressedSize / Math.max(1, entry.compressedSize) > limits.maxCompressionRatio
          ) {
            throw new ZipRejectedError(
              `entry "${entry.fileName}" expands ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))}x (a zip bomb)`,
            );
          }
          if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
            const target = await readSmallEntry(zip, entry, 4096);
            if (symlinkEscapes(entry.fileName, target)) {
              throw new ZipRejectedError(`symlink "${entry.fileName}" points outside the archive's folder (${target})`);
            }
            links.push({ name: entry.fileName, target });
          }
          zip.readEntry();
        })().catch(fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  refuseLinksThroughLinks(names, links);
  return { entries, uncompressedBytes };
}
