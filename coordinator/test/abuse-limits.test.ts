// Abuse limits: wrong tokens slowed then refused per address (429 + Retry-After), submissions and upload bytes
// per token per minute capped, uploads refused with 507 when the data dir's disk is nearly full.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { manualClock } from '../../test/clock';
import { expectApiError } from '../../test/api-error';
import { makeTempDir, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { makeZip } from '../../test/zips';

const pools: TestCoordinator[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.stop();
});

const wrong = (pool: TestCoordinator, token = 'cmdx_submit_guess') =>
  fetch(`${pool.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${token}` } });

describe('abuse limits', () => {
  it('slows failed authentication, then refuses the address with 429 and Retry-After, right tokens too', async () => {
    const clock = manualClock();
    const pool = await startTestCoordinator({
      clock: clock.now,
      sweepIntervalMs: 0,
      limits: { authFailuresBeforeDelay: 5, authFailuresBeforeRefusal: 10, authFailureDelayMs: 100, authFailureWindowSec: 60 },
    });
    pools.push(pool);
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 10; i++) statuses.push((await wrong(pool)).status);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5 * 100);
    expect(statuses).toEqual(Array(10).fill(401));
    const refused = await Promise.all(Array.from({ length: 50 }, () => wrong(pool)));
    expect(refused.every((r) => r.status === 429)).toBe(true);
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused[0]!.json()) as { error: { message: string } }).error.message).toMatch(/too many failed/);
    expect((await wrong(pool, pool.adminToken)).status).toBe(429);
    clock.advance(61_000);
    expect((await wrong(pool, pool.adminToken)).status).toBe(200);
  });

  it('caps submissions and upload bytes per token per minute (admins are not capped)', async () => {
    const clock = manualClock();
    const pool = await startTestCoordinator({
      clock: clock.now,
      sweepIntervalMs: 0,
      limits: { submissionsPerMinute: 3, uploadBytesPerMinute: 2000 },
    });
    pools.push(pool);
    const alice = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('alice', 'submit') });
    for (let i = 0; i < 3; i++) await alice.submitJob({ commands: ['true'] });
    const refused = await expectApiError(alice.submitJob({ commands: ['true'] }), 429, 'too_many_requests');
    expect(refused.message).toMatch(/3 jobs in the last minute/);
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    for (let i = 0; i < 5; i++) await admin.submitJob({ commands: ['true'] });
    clock.advance(61_000);
    const big = await makeZip([{ name: 'noise.bin', data: randomBytes(4000) }]);
    await expectApiError(alice.submitJobWithBundle({ commands: ['true'] }, new Blob([big])), 429, 'too_many_requests');
    await alice.submitJob({ commands: ['true'] });
  });

  it('refuses uploads with 507 when the data dir disk is nearly full (skipped where mounting a tmpfs is not permitted)', async (ctx) => {
    const mountPoint = await makeTempDir('cmdx-tmpfs-');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountPoint]).status === 0;
    if (!mounted) {
      await rm(mountPoint, { recursive: true, force: true });
      ctx.skip();
      return;
    }
    try {
      const dataDir = join(mountPoint, 'data');
      await mkdir(dataDir);
      const pool = await startTestCoordinator({ dataDir, limits: { minFreeDiskBytes: 16 * 1024 ** 2 } });
      pools.push(pool);
      const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
      const zip = new Blob([await makeZip([{ name: 'in.txt', data: 'hello' }])]);
      await admin.submitJobWithBundle({ commands: ['cat in.txt'] }, zip);
      await writeFile(join(mountPoint, 'filler'), Buffer.alloc(20 * 1024 ** 2));
      const refused = await expectApiError(admin.submitJobWithBundle({ commands: ['cat in.txt'] }, zip), 507, 'insufficient_storage');
      expect(refused.message).toMatch(/disk is nearly full/);
      await admin.submitJob({ commands: ['echo no upload'] });
      await rm(join(mountPoint, 'filler'));
      await admin.submitJobWithBundle({ commands: ['cat in.txt'] }, zip);
    } finally {
      for (const pool of pools.splice(0)) await pool.stop({ keepData: true });
      spawnSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});

describe('sign-in link', () => {
  it('carries a one-time code, exchanged once for an expiring session token', async () => {
    const clock = manualClock();
    const pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, limits: { sessionTtlSec: 3600 } });
    pools.push(pool);
    const link = await pool.coordinator.signInLink();
    expect(link).not.toContain(pool.adminToken);
    const code = new URL(link).hash.replace('#code=', '');
    const anonymous = new ApiClient({ baseUrl: pool.url });
    const session = await anonymous.signIn(code);
    expect(session.token).not.toBe(pool.adminToken);
    const browser = new ApiClient({ baseUrl: pool.url, token: session.token });
    expect((await browser.submitJob({ commands: ['true'] })).submittedBy).toBe('admin');
    await expectApiError(anonymous.signIn(code), 401);
    clock.advance(3601_000);
    await expectApiError(browser.listJobs(), 401);
  });

  it('signs out: the session token stops working; a sign-out with a personal token leaves it working', async () => {
    const pool = await startTestCoordinator({ sweepIntervalMs: 0 });
    pools.push(pool);
    const anonymous = new ApiClient({ baseUrl: pool.url });
    const session = await anonymous.signIn(new URL(await pool.coordinator.signInLink()).hash.replace('#code=', ''));
    const browser = new ApiClient({ baseUrl: pool.url, token: session.token });
    await browser.signOut();
    await expectApiError(browser.listJobs(), 401);
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    await admin.signOut();
    expect((await admin.listJobs()).jobs).toEqual([]);
    expect((await admin.listAudit({ action: 'session.end' })).entries).toHaveLength(1);
  });
});
