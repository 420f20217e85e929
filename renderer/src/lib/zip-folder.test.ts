import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { extractZipSafely } from '../../../main/agent/zip';
import { EmptyFolderError, zipFolder } from './zip-folder';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

describe('zipFolder', () => {
  it('zips a dropped folder with paths inside the folder, named after it', () => {
    const { name, zip } = zipFolder([
      { path: '/project/build.sh', data: bytes('echo build') },
      { path: '/project/src/main.c', data: bytes('int main(){}') },
    ]);
    expect(name).toBe('project.zip');
    const entries = unzipSync(zip);
    expect(Object.keys(entries).sort()).toEqual(['build.sh', 'src/main.c']);
    expect(text(entries['src/main.c'])).toBe('int main(){}');
  });

  it('treats picked folders (webkitRelativePath, no leading slash) the same way', () => {
    const { name, zip } = zipFolder([{ path: 'site/index.html', data: bytes('<p>hi</p>') }]);
    expect(name).toBe('site.zip');
    expect(text(unzipSync(zip)['index.html'])).toBe('<p>hi</p>');
  });

  it('keeps full paths when the files share no folder', () => {
    const { name, zip } = zipFolder([
      { path: 'a.txt', data: bytes('a') },
      { path: 'b/c.txt', data: bytes('c') },
    ]);
    expect(name).toBe('folder.zip');
    expect(Object.keys(unzipSync(zip)).sort()).toEqual(['a.txt', 'b/c.txt']);
  });

  it('keeps scripts and programs executable, as the agent unpacks them', async () => {
    const { zip } = zipFolder([
      { path: 'tools/hello.sh', data: bytes('#!/bin/sh\necho hello\n') },
      { path: 'tools/prog', data: new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]) },
      { path: 'tools/notes.txt', data: bytes('not a program') },
    ]);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cmdx-zip-folder-'));
    try {
      await writeFile(path.join(dir, 'bundle.zip'), zip);
      await extractZipSafely(path.join(dir, 'bundle.zip'), path.join(dir, 'out'));
      const mode = async (name: string) => (await stat(path.join(dir, 'out', name))).mode & 0o777;
      expect(await mode('hello.sh')).toBe(0o755);
      expect(await mode('prog')).toBe(0o755);
      expect(await mode('notes.txt')).toBe(0o644);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses an empty folder with a reason', () => {
    expect(() => zipFolder([])).toThrow(EmptyFolderError);
  });
});
