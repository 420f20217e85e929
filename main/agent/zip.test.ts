import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostileZips, makeZip } from '../../test/zips';
import { DEFAULT_ZIP_LIMITS, extractZipSafely, writeZip, ZipRejectedError } from './zip';

let root: string;
let workspace: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cmdx-zip-'));
  workspace = path.join(root, 'jobs', 'job_1.1', 'workspace');
  await mkdir(workspace, { recursive: true });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function extract(bytes: Buffer, limits = DEFAULT_ZIP_LIMITS) {
  const file = path.join(root, 'bundle.zip');
  await writeFile(file, bytes);
  return extractZipSafely(file, workspace, limits);
}

/** Every path under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

async function expectRefused(bytes: Buffer, message: RegExp, limits = DEFAULT_ZIP_LIMITS): Promise<void> {
  const before = (await tree(root)).filter((p) => p !== 'bundle.zip');
  const err = await extract(bytes, limits).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ZipRejectedError);
  expect((err as Error).message).toMatch(message);
  // Nothing written anywhere: not in the workspace, not beside it (bundle.zip is the test's own input).
  expect((await tree(root)).filter((p) => p !== 'bundle.zip')).toEqual(before);
}

/** Rewrites the declared uncompressed size of every entry: a bomb that lies about its size. */
function lieAboutSizes(bytes: Buffer, size: number): Buffer {
  const out = Buffer.from(bytes);
  for (let at = 0; at + 4 <= out.length; at++) {
    const signature = out.readUInt32LE(at);
    if (signature === 0x04034b50) out.writeUInt32LE(size, at + 22);
    else if (signature === 0x02014b50) out.writeUInt32LE(size, at + 24);
  }
  return out;
}

describe('extractZipSafely', () => {
  it('extracts folders, files and links that stay inside', async () => {
    const summary = await extract(
      await makeZip([
        { name: 'src/main.c', data: 'int main() {}\n' },
        { name: 'latest', data: 'src/main.c', mode: 0o120777 },
      ]),
    );
    expect(summary.entries).toBe(2);
    expect(await readFile(path.join(workspace, 'src/main.c'), 'utf8')).toBe('int main() {}\n');
    expect(await readlink(path.join(workspace, 'latest'))).toBe('src/main.c');
    expect(await readFile(path.join(workspace, 'latest'), 'utf8')).toBe('int main() {}\n');
  });

  it('refuses zip-slip', async () => {
    await expectRefused(await hostileZips.zipSlip(), /\.\.\/\.\.\/evil\.txt/);
  });

  it('refuses absolute paths', async () => {
    await rm('/tmp/cmdx-evil.txt', { force: true });
    await expectRefused(await hostileZips.absolutePath(), /absolute path.*\/tmp\/cmdx-evil\.txt|\/tmp\/cmdx-evil\.txt.*absolute path/);
    await expect(readFile('/tmp/cmdx-evil.txt')).rejects.toThrow();
  });

  it('refuses a symlink pointing outside', async () => {
    await expectRefused(await hostileZips.symlinkEscape(), /symlink "link" points outside/);
  });

  it('refuses entries written through a link, and links leading through links', async () => {
    await expectRefused(
      await makeZip([
        { name: 'up', data: '.', mode: 0o120777 },
        { name: 'up/file.txt', data: 'x' },
      ]),
      /"up\/file\.txt" would be written through the symlink "up"/,
    );
    // Each looks harmless alone; together `b` resolves to two levels above the workspace.
    await expectRefused(
      await makeZip([
        { name: 'x/y', data: '..', mode: 0o120777 },
        { name: 'x/z', data: 'y/..', mode: 0o120777 },
      ]),
      /symlink "x\/z" points through another symlink \("x\/y"\)/,
    );
  });

  it('refuses a bomb by total size, by ratio, and by entry count', async () => {
    const small = { ...DEFAULT_ZIP_LIMITS, maxUncompressedBytes: 16 * 1024 * 1024 };
    await expectRefused(await hostileZips.bombBySize(), /expands to more than 16777216 bytes/, small);
    await expectRefused(await hostileZips.bombBySize(), /expands \d+x \(a zip bomb\)/, { ...DEFAULT_ZIP_LIMITS, maxCompressionRatio: 100 });
    await expectRefused(await hostileZips.bombByEntries(50), /50 entries; the limit is 20/, { ...DEFAULT_ZIP_LIMITS, maxEntries: 20 });
  });

  it('stops a bomb that lies about its size in the middle of extracting it', async () => {
    const liar = lieAboutSizes(await makeZip([{ name: 'zeros.bin', data: Buffer.alloc(4 * 1024 * 1024) }]), 1000);
    const err = await extract(liar).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZipRejectedError);
    expect((err as Error).message).toMatch(/extracting the archive failed: too many bytes in the stream/);
    expect(await tree(path.join(root, 'jobs'))).toEqual(['job_1.1', 'job_1.1/workspace', 'job_1.1/workspace/zeros.bin']);
  });

  it('refuses what is not a ZIP at all', async () => {
    await expectRefused(Buffer.from('definitely not a zip'), /not a readable ZIP archive/);
  });
});

describe('writeZip', () => {
  it('round-trips files through extraction', async () => {
    const source = path.join(root, 'source.txt');
    await writeFile(source, 'hello');
    const zip = path.join(root, 'out.zip');
    await writeZip([{ path: source, name: 'nested/hello.txt' }], zip);
    await extractZipSafely(zip, workspace);
    expect(await readFile(path.join(workspace, 'nested/hello.txt'), 'utf8')).toBe('hello');
  });
});
