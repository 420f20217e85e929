// A folder dropped or picked in the UI is zipped here before upload: the coordinator takes ZIP bundles only.
// fflate's synchronous zip avoids Web Workers, which a strict Content-Security-Policy would block.
import { zipSync, type Zippable } from 'fflate';

export interface FolderFile {
  /** Path as the browser reports it, e.g. "project/src/main.c" (webkitRelativePath) or "/project/src/main.c" (drop entry). */
  path: string;
  data: Uint8Array;
}

export class EmptyFolderError extends Error {
  override name = 'EmptyFolderError';
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
    entries[relative] = (files[i] as FolderFile).data;
  });
  return { name: `${sharesTop ? top : 'folder'}.zip`, zip: zipSync(entries, { level: 6 }) };
}
