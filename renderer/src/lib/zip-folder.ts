// A folder dropped or picked in the UI is zipped here before upload: the coordinator takes ZIP bundles only.
// fflate's synchronous zip avoids Web Workers, which a strict Content-Security-Policy would block.
// A browser never tells a page a file's Unix mode, so the mode is read from the content: a script with a
// `#!` line or an ELF program is executable (rwxr-xr-x), like `git add` of a script someone ran; the rest is rw-r--r--.
import { zipSync, type Zippable } from 'fflate';

export interface FolderFile {
  /** Path as the browser reports it, e.g. "project/src/main.c" (webkitRelativePath) or "/project/src/main.c" (drop entry). */
  path: string;
  data: Uint8Array;
}

export class EmptyFolderError extends Error {
  override name = 'EmptyFolderError';
}

const UNIX = 3;
const REGULAR_FILE = 0o100000;

const startsWith = (data: Uint8Array, magic: readonly number[]) => magic.every((byte, i) => data[i] === byte);
const SHEBANG = [0x23, 0x21];
const ELF = [0x7f, 0x45, 0x4c, 0x46];

/** The Unix mode the file gets in the ZIP: executable when its content is a program. */
export function unixModeOf(data: Uint8Array): number {
  return startsWith(data, SHEBANG) || startsWith(data, ELF) ? 0o755 : 0o644;
}

/**
 * Zips the files with paths relative to the dropped folder itself, so `./build.sh` in a command finds
 * the folder's build.sh; the ZIP is named after the folder.
 */
export function zipFolder(files: FolderFile[]): { name: string; zip: Uint8Array } {
  if (files.length === 0) throw new EmptyFolderError('the folder is empty: there is nothing to upload');
  const split = files.map((file) => file.path.split(/[\\/]+/).filter((part) => part !== '' && part !== '.'));
  const top = split[0]?.[0];
  const sharesTop = top !== undefined && split.every((parts) => parts.length > 1 && parts[0] === top);
  const entries: Zippable = {};
  split.forEach((parts, i) => {
    const relative = (sharesTop ? parts.slice(1) : parts).join('/');
    const { data } = files[i] as FolderFile;
    // The high 16 bits of a Unix entry's external attributes are its st_mode.
    entries[relative] = [data, { os: UNIX, attrs: ((REGULAR_FILE | unixModeOf(data)) << 16) >>> 0 }];
  });
  return { name: `${sharesTop ? top : 'folder'}.zip`, zip: zipSync(entries, { level: 6 }) };
}
