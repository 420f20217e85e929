// A data dir the coordinator cannot use at start: a full disk, a read-only file system. CI runs as root, who
// may write through any permission bits, so both are made real with small tmpfs mounts; where the sandbox
// refuses to mount, the tests are skipped and say so in their names.
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../pool';
import { fill, mountRefusal, mountTmpfs, skipNote, unmount } from '../tmpfs';

const ENTRY = fileURLToPath(new URL('../../coordinator/index.js', import.meta.url));

function startCoordinator(dataDir: string) {
  const run = spawnSync(process.execPath, [ENTRY, '--port', '0', '--data-dir', dataDir], { encoding: 'utf8', timeout: 30_000 });
  return { code: run.status, stderr: run.stderr, stdout: run.stdout };
}

function expectClearRefusal(run: { code: number | null; stderr: string; stdout: string }, why: RegExp): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr).toMatch(/^cmd-executor: cannot use data dir /);
  expect(run.stderr).toMatch(why);
  expect(run.stderr).not.toMatch(/\n\s+at |node_modules|Error:/);
  expect(run.stdout).not.toMatch(/serving/);
}

describe.skipIf(mountRefusal !== null)('a data dir the coordinator cannot use at start', () => {
  const mounts: string[] = [];
  const mounted = async (options: string) => {
    const dir = await makeTempDir('cmdx-fault-mount-');
    const refusal = mountTmpfs(dir, options);
    if (refusal) throw new Error(`mount -o ${options} failed: ${refusal}`);
    mounts.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of mounts.splice(0)) {
      unmount(dir);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it(`a full disk: exit 1 and "the disk is full", no stack trace${skipNote}`, async () => {
    const disk = await mounted('size=256k');
    await fill(disk);
    expectClearRefusal(startCoordinator(join(disk, 'data')), /the disk is full/);
  });

  it(`a disk that filled up after the last run: the same clear refusal on restart${skipNote}`, async () => {
    const disk = await mounted('size=1m');
    const dataDir = join(disk, 'data');
    await mkdir(join(dataDir, 'blobs'), { recursive: true });
    await writeFile(join(dataDir, 'admin.token'), 'cmdx_admin_kept\n');
    await fill(disk);
    expectClearRefusal(startCoordinator(dataDir), /the disk is full/);
  });

  it(`a read-only file system: exit 1 and "read-only", no stack trace${skipNote}`, async () => {
    const disk = await mounted('size=256k');
    await mkdir(join(disk, 'data'));
    const remount = spawnSync('mount', ['-o', 'remount,ro', disk], { encoding: 'utf8' });
    expect(remount.status, remount.stderr).toBe(0);
    expectClearRefusal(startCoordinator(join(disk, 'data')), /the file system is read-only/);
  });

  it(`a data dir still to be made on a read-only file system: exit 1 with a message, no stack trace${skipNote}`, async () => {
    const disk = await mounted('ro,size=64k');
    expectClearRefusal(startCoordinator(join(disk, 'data')), /./);
  });
});
