import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleCache, BundleIntegrityError } from './bundle-cache';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cmdx-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bundle(content: string) {
  const bytes = Buffer.from(content);
  return { ref: { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }, bytes };
}

/** A download that answers with `bytes` and counts how often it was asked. */
function server(bytes: Buffer) {
  const calls = { count: 0 };
  return { calls, download: async () => (calls.count++, new Response(bytes)) };
}

const manualClock = () => {
  let now = Date.UTC(2026, 0, 1);
  return { now: () => now, advance: () => (now += 1000) };
};

describe('BundleCache', () => {
  it('downloads a bundle once, however many jobs use it at the same time or later', async () => {
    const cache = new BundleCache(dir);
    const a = bundle('zip bytes');
    const { calls, download } = server(a.bytes);
    const read = (file: string) => readFile(file, 'utf8');
    expect(await Promise.all([cache.with(a.ref, download, read), cache.with(a.ref, download, read)])).toEqual(['zip bytes', 'zip bytes']);
    expect(await cache.with(a.ref, download, read)).toBe('zip bytes');
    expect(calls.count).toBe(1);
    expect(await readdir(dir)).toEqual([`${a.ref.sha256}.zip`]);
  });

  it('checks the hash on every use: a cached file rewritten at the same size is fetched again', async () => {
    const warnings: string[] = [];
    const cache = new BundleCache(dir, undefined, Date.now, (message) => warnings.push(message));
    const a = bundle('the real bytes');
    const { calls, download } = server(a.bytes);
    const read = (file: string) => readFile(file, 'utf8');
    expect(await cache.with(a.ref, download, read)).toBe('the real bytes');
    await writeFile(path.join(dir, `${a.ref.sha256}.zip`), 'the evil bytes');
    expect(await cache.with(a.ref, download, read)).toBe('the real bytes');
    expect(calls.count).toBe(2);
    expect(warnings).toEqual([`the cached bundle ${a.ref.sha256} does not match its SHA-256 any more; fetching it again`]);
  });

  it('refuses bytes that do not match the announced hash and keeps nothing of them', async () => {
    const cache = new BundleCache(dir);
    const announced = bundle('the real thing').ref;
    const err = await cache.with(announced, server(Buffer.from('tampered bytes')).download, async () => 'used').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleIntegrityError);
    expect((err as Error).message).toMatch(/has SHA-256 [0-9a-f]{64}, not the announced/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a hash that is not one (it becomes a file name)', async () => {
    const cache = new BundleCache(dir);
    const err = await cache.with({ sha256: '../../etc/passwd', size: 1 }, server(Buffer.from('x')).download, async () => 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleIntegrityError);
  });

  it('drops the least recently used bundles past its cap, never one in use', async () => {
    const clock = manualClock();
    const cache = new BundleCache(dir, 25, clock.now);
    const [a, b, c] = ['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(10)].map(bundle) as [ReturnType<typeof bundle>, ReturnType<typeof bundle>, ReturnType<typeof bundle>];
    const use = async (x: ReturnType<typeof bundle>) => {
      clock.advance();
      await cache.with(x.ref, server(x.bytes).download, async () => undefined);
    };
    await use(a);
    await use(b);
    await use(a); // a is now more recent than b
    await use(c); // 30 bytes > 25: b goes
    expect((await readdir(dir)).sort()).toEqual([`${a.ref.sha256}.zip`, `${c.ref.sha256}.zip`].sort());

    // A bundle bigger than the whole cap stays while a job uses it, and goes after.
    const big = bundle('x'.repeat(40));
    clock.advance();
    const seenDuringUse = await cache.with(big.ref, server(big.bytes).download, async () => readdir(dir));
    expect(seenDuringUse).toContain(`${big.ref.sha256}.zip`);
    expect(await readdir(dir)).toEqual([]);
  });
});
