import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { makeTempDir, registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';

describe('job lifecycle over HTTP', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;

  beforeEach(async () => {
    pool = await startTestCoordinator();
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  it('runs queued → leased → running → succeeded with output, commands and log', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo hi', 'echo bye'], name: 'greet' });
    expect(job.state).toBe('queued');
    expect(job.spec.maxAttempts).toBe(3);

    const claim = await worker.client.claim(worker.id, 0);
    expect(claim?.job.id).toBe(job.id);
    expect(claim?.job.attempt).toBe(1);
    const lease = claim!.lease.id;
    expect((await submitter.getJob(job.id)).state).toBe('leased');

    await worker.client.setLeaseState(lease, 'running');
    await worker.client.commandStart(lease, 0);
    expect(await worker.client.sendOutput(lease, [{ seq: 0, stream: 'stdout', data: 'hi\n' }])).toEqual({ nextSeq: 1 });
    await worker.client.commandEnd(lease, 0, { exitCode: 0, signal: null, durationMs: 5 });
    await worker.client.commandStart(lease, 1);
    await worker.client.sendOutput(lease, [{ seq: 1, stream: 'stderr', data: 'bye\n' }]);
    await worker.client.commandEnd(lease, 1, { exitCode: 0, signal: null, durationMs: 7 });
    const done = await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });

    expect(done.state).toBe('succeeded');
    expect(done.exitCode).toBe(0);
    expect(done.workerName).toBe('test-worker');
    expect(done.commands.map((c) => [c.index, c.exitCode, c.durationMs])).toEqual([
      [0, 0, 5],
      [1, 0, 7],
    ]);
    expect(done.attempts).toHaveLength(1);
    expect(done.attempts[0]!.outcome).toBe('completed');
    expect(await submitter.getLog(job.id)).toBe('hi\nbye\n');

    const events: JobEvent[] = [];
    for await (const event of submitter.events(job.id)) events.push(event);
    expect(events.filter((e) => e.type === 'state').map((e) => e.data.state)).toEqual([
      'queued',
      'leased',
      'running',
      'succeeded',
    ]);
    // Positions: each event counts one, each output byte one; an output frame's id is the position after it.
    expect(events.map((e) => [e.type, e.id])).toEqual([
      ['state', 1], ['state', 2], ['state', 3], ['command', 4], ['output', 7], ['command', 8], ['command', 9],
      ['output', 13], ['command', 14], ['state', 15],
    ]);
  });

  it('a retried completion answers the same job and records the result once', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['false'] });
    const claim = (await worker.client.claim(worker.id, 0))!;
    const first = await worker.client.complete(claim.lease.id, { outcome: 'failed', exitCode: 1 });
    const again = await worker.client.complete(claim.lease.id, { outcome: 'failed', exitCode: 1 });
    expect(first.state).toBe('failed');
    expect(first.reason).toBe('command_failed');
    expect(again.finishedAt).toBe(first.finishedAt);
    const states = [];
    for await (const e of submitter.events(job.id)) if (e.type === 'state') states.push(e.data.state);
    expect(states.filter((s) => s === 'failed')).toHaveLength(1);
  });

  it('an idle worker in a long poll gets a new job within milliseconds', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const claiming = worker.client.claim(worker.id, 20_000);
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 1, { message: 'claim to wait' });
    const submittedAt = performance.now();
    const job = await submitter.submitJob({ commands: ['true'] });
    const claim = await claiming;
    const latencyMs = performance.now() - submittedAt;
    expect(claim?.job.id).toBe(job.id);
    expect(latencyMs).toBeLessThan(1000);
  });

  it('a long poll with nothing to do answers 204 after waitMs', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    expect(await worker.client.claim(worker.id, 50)).toBeNull();
  });

  it('schedules by priority, then age, and only onto workers that carry every required label', async () => {
    const plain = await registerTestWorker(pool.url, pool.joinToken, { name: 'plain' });
    const gpu = await registerTestWorker(pool.url, pool.joinToken, { name: 'gpu', labels: ['gpu', 'linux'] });
    const old = await submitter.submitJob({ commands: ['echo old'] });
    const needsGpu = await submitter.submitJob({ commands: ['echo gpu'], labels: ['gpu'] });
    const urgent = await submitter.submitJob({ commands: ['echo urgent'], priority: 10 });
    const young = await submitter.submitJob({ commands: ['echo young'] });

    expect((await plain.client.claim(plain.id, 0))?.job.id).toBe(urgent.id);
    const gpuClaim = await gpu.client.claim(gpu.id, 0);
    expect(gpuClaim?.job.id).toBe(old.id);
    await gpu.client.complete(gpuClaim!.lease.id, { outcome: 'succeeded', exitCode: 0 });
    // One job per free slot: `plain` (1 slot) is busy with `urgent`.
    expect(await plain.client.claim(plain.id, 0)).toBeNull();
    expect((await gpu.client.claim(gpu.id, 0))?.job.id).toBe(needsGpu.id);
    expect((await submitter.getJob(young.id)).state).toBe('queued');
  });

  it('a claim with onlyLabels takes only jobs pinned to those labels (a paused desktop runs its own "This PC" jobs)', async () => {
    const desk = await registerTestWorker(pool.url, pool.joinToken, { name: 'desk', labels: ['host:desk'] });
    await desk.client.heartbeat(desk.id, 'paused');
    const poolJob = await submitter.submitJob({ commands: ['echo pool'] });
    const waiting = desk.client.claim(desk.id, 20_000, undefined, { onlyLabels: ['host:desk'] });
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 1, { message: 'pinned claim to wait' });
    const mine = await submitter.submitJob({ commands: ['echo mine'], labels: ['host:desk'] });
    expect((await waiting)?.job.id).toBe(mine.id);
    expect((await submitter.getJob(poolJob.id)).state).toBe('queued');
    expect((await submitter.listWorkers())[0]!.state).toBe('busy');
  });

  it('lists newest first with a state filter and cursor pagination', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await submitter.submitJob({ commands: [`echo ${i}`] })).id);
    await submitter.cancelJob(ids[1]!);
    const page1 = await submitter.listJobs({ limit: 2 });
    expect(page1.jobs.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    const page2 = await submitter.listJobs({ limit: 2, cursor: page1.nextCursor! });
    expect(page2.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const page3 = await submitter.listJobs({ limit: 2, cursor: page2.nextCursor! });
    expect(page3.jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect(page3.nextCursor).toBeNull();
    const cancelled = await submitter.listJobs({ state: ['cancelled'] });
    expect(cancelled.jobs.map((j) => j.id)).toEqual([ids[1]]);
  });
});

describe('serving', () => {
  it('stops gracefully: waiting long polls end with 204 and stop() returns promptly', async () => {
    const pool = await startTestCoordinator();
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const claiming = worker.client.claim(worker.id, 25_000);
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 1, { message: 'claim to wait' });
    const started = performance.now();
    await pool.stop();
    expect(await claiming).toBeNull();
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it.skipIf(!existsSync('/usr/bin/openssl'))('serves HTTPS with --tls-cert/--tls-key (skipped without openssl)', async () => {
    const dir = await makeTempDir();
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const pool = await startTestCoordinator({ tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      expect(pool.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const status = await new Promise<number | undefined>((resolve, reject) => {
        https.get(`${pool.url}/healthz`, { ca: readFileSync(cert), checkServerIdentity: () => undefined }, (res) => {
          res.resume();
          resolve(res.statusCode);
        }).on('error', reject);
      });
      expect(status).toBe(200);
    } finally {
      await pool.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('stopping with a silent client', () => {
  it('drops a connection that never sent a request instead of waiting for it', async () => {
    const pool = await startTestCoordinator();
    const { port } = new URL(pool.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const started = performance.now();
    await pool.stop();
    await closed;
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
