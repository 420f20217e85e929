import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../test/pool';
import { BlobStore } from './blobs';

const HOUR = 3600_000;
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('BlobStore', () => {
  it("stamps a blob stored by the clock it is given (the store's), and again when the same blob is uploaded anew", async () => {
    const dir = await makeTempDir('cmdx-blobs-');
    dirs.push(dir);
    // Days away from this machine's clock, as a shared database's clock may be from a skewed node's.
    let now = Date.now() - 50 * 24 * HOUR;
    const blobs = new BlobStore(join(dir, 'blobs'), () => now);
    await blobs.init();
    const upload = async () => {
      const file = join(dir, `upload-${Math.random()}`);
      await writeFile(file, 'zip bytes');
      await blobs.adopt(file, 'ab'.repeat(32));
    };
    await upload();
    // Unused for a day by the store's clock: retention (keeping what is under an hour old) may take it.
    now += 24 * HOUR;
    expect(await blobs.removeUnreferenced(new Set(), now - HOUR)).toEqual({ removed: 1, keptBytes: 0 });

    await upload();
    now += 24 * HOUR;
    // Uploaded again just now, before the job that uses it is written: kept, though the bytes were there before.
    await upload();
    expect(await blobs.removeUnreferenced(new Set(), now - HOUR)).toEqual({ removed: 0, keptBytes: 9 });
  });
});
