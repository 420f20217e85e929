// Reading what the user dropped or picked, in the browser's own terms (File System entries, FileList).
import type { FolderFile } from './zip-folder';

async function fileBytes(file: File): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** A directory reader hands out entries in batches until an empty one. */
async function directoryEntries(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

/** Every regular file under a dropped folder, with its path from the folder's parent ("/project/src/a.c"). */
export async function readDroppedFolder(entry: FileSystemDirectoryEntry): Promise<FolderFile[]> {
  const files: FolderFile[] = [];
  const pending: FileSystemEntry[] = [entry];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (next.isDirectory) pending.push(...(await directoryEntries(next as FileSystemDirectoryEntry)));
    else if (next.isFile) files.push({ path: next.fullPath, data: await fileBytes(await entryFile(next as FileSystemFileEntry)) });
  }
  return files;
}

/** The files of an `<input webkitdirectory>`: each knows its path inside the picked folder. */
export async function readPickedFolder(files: File[]): Promise<FolderFile[]> {
  return Promise.all(
    files.map(async (file) => ({ path: file.webkitRelativePath || file.name, data: await fileBytes(file) })),
  );
}
