import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readPickedFile, readPickedFolder } from './picked-files';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cmdx-pick-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

describe('readPickedFile', () => {
  it('returns name, size and bytes', async () => {
    await fs.writeFile(path.join(dir, 'job.zip'), 'PK-ish');
    const picked = await readPickedFile(path.join(dir, 'job.zip'));
    expect({ ...picked, bytes: text(picked.bytes) }).toEqual({ name: 'job.zip', size: 6, bytes: 'PK-ish' });
  });

  it('refuses a file over the cap and a folder', async () => {
    await fs.writeFile(path.join(dir, 'big.zip'), Buffer.alloc(2048));
    await expect(readPickedFile(path.join(dir, 'big.zip'), { maxBytes: 1024, maxFiles: 10 })).rejects.toThrow(
      /^big\.zip is 2 KiB; the limit is 1 KiB$/,
    );
    await expect(readPickedFile(dir)).rejects.toThrow('is not a regular file');
  });
});

describe('readPickedFolder', () => {
  it('lists regular files with / paths, in a stable order, skipping links', async () => {
    const folder = path.join(dir, 'project');
    await fs.mkdir(path.join(folder, 'src'), { recursive: true });
    await fs.writeFile(path.join(folder, 'run.sh'), 'echo hi');
    await fs.writeFile(path.join(folder, 'src', 'a.txt'), 'A');
    await fs.writeFile(path.join(dir, 'secret.txt'), 'outside');
    await fs.symlink(path.join(dir, 'secret.txt'), path.join(folder, 'link.txt'));
    const picked = await readPickedFolder(folder);
    expect(picked.name).toBe('project');
    expect(picked.files.map((f) => [f.path, text(f.bytes)])).toEqual([
      ['run.sh', 'echo hi'],
      ['src/a.txt', 'A'],
    ]);
  });

  it('stops at the file count and size caps with a clear message', async () => {
    for (const name of ['a', 'b', 'c']) await fs.writeFile(path.join(dir, name), 'xx');
    await expect(readPickedFolder(dir, { maxBytes: 1000, maxFiles: 2 })).rejects.toThrow(/has more than 2 files$/);
    await expect(readPickedFolder(dir, { maxBytes: 5, maxFiles: 10 })).rejects.toThrow(/holds more than 5 bytes$/);
  });
});
