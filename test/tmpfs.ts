// Small tmpfs mounts for tests of full and read-only disks. CI runs as root, who may write through any
// permission bits, so only a real file system makes a disk full or read-only; where the sandbox refuses to
// mount, the tests using these are skipped and say so in their names.
import { spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from './pool';

/** Mounts a tmpfs on `dir`; returns why not, or null. */
export function mountTmpfs(dir: string, options: string): string | null {
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  return result.status === 0 ? null : (result.stderr || result.error?.message || `exit ${result.status}`).trim();
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir]);
}

/** Whether this machine lets a test mount a tmpfs (root with CAP_SYS_ADMIN), probed once. */
export const mountRefusal = await (async () => {
  if (process.platform !== 'linux') return 'not Linux';
  const probe = await makeTempDir('cmdx-mount-probe-');
  const refusal = mountTmpfs(probe, 'size=64k');
  if (!refusal) unmount(probe);
  await rm(probe, { recursive: true, force: true });
  return refusal;
})();

export const skipNote = mountRefusal ? ` (skipped: this sandbox refuses tmpfs mounts: ${mountRefusal})` : '';

/** Fills the file system until it refuses another byte. */
export async function fill(dir: string): Promise<void> {
  const block = Buffer.alloc(4096);
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(dir, `filler-${i}`), block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw err;
    }
  }
}
