import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../../protocol/api';
import { ApiClient, parseEventStream } from '../../../protocol/client';
import { expectApiError } from '../../../test/api-error';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../../test/pool';
import { waitFor } from '../../../test/wait';
import { hostileZips, makeZip } from '../../../test/zips';

describe('jobs API: uploads, events, artifacts', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;

  beforeEach(async () => {
    pool = await startTestCoordinator({
      maxOutputBytes: 1000,
      maxUploadBytes: 256 * 1024,
      zipLimits: { maxEntries: 50, maxUncompressedBytes: 8 * 1024 * 1024, maxCompressionRatio: 1000 },
    });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  const blobFiles = async () => {
    const dirs = await readdir(join(pool.dataDir, 'blobs'));
    const files = await Promise.all(dirs.map((d) => readdir(join(pool.dataDir, 'blobs', d))));
    return files.flat();
  };

  it('stores an uploaded ZIP once by SHA-256 and hands it to the worker holding the lease', async () => {
    const zip = await makeZip([{ name: 'data/input.txt', data: 'hello from the zip' }]);
    const before = (await blobFiles()).length;
    const first = await submitter.submitJobWithBundle({ commands: ['cat data/input.txt'] }, new Blob([zip]));
    const second = await submitter.submitJobWithBundle({ commands: ['ls'] }, new Blob([zip]));
    expect(first.bundle?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(second.bundle).toEqual(first.bundle);
    expect((await blobFiles()).length).toBe(before + 1);
    expect(await readdir(join(pool.dataDir, 'tmp'))).toEqual([]);

    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const claim = (await worker.client.claim(worker.id, 0))!;
    expect(claim.bundleUrl).toContain(claim.lease.id);
    const bytes = Buffer.from(await (await worker.client.downloadBundle(claim)).arrayBuffer());
    expect(bytes.equals(zip)).toBe(true);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    await expectApiError(worker.client.downloadBundle(claim), 409, 'stale_lease');
  });

  it('re-runs a job with the same spec and ZIP', async () => {
    const zip = await makeZip([{ name: 'in.txt', data: 'again' }]);
    const original = await submitter.submitJobWithBundle({ commands: ['cat in.txt'], name: 'twice', labels: ['linux'] }, new Blob([zip]));
    await submitter.cancelJob(original.id);
    const rerun = await submitter.rerunJob(original.id);
    expect(rerun.id).not.toBe(original.id);
    expect(rerun.state).toBe('queued');
    expect(rerun.spec).toEqual(original.spec);
    expect(rerun.bundle).toEqual(original.bundle);
    await expectApiError(submitter.rerunJob('job_nope'), 404);
  });

  it('refuses non-ZIP and hostile bundles with 400 and keeps nothing of them', async () => {
    const before = (await blobFiles()).length;
    const cases: [string, Buffer][] = [
      ['not a zip', Buffer.from('this is plain text, not an archive')],
      ['truncated', (await makeZip([{ name: 'a.txt', data: 'x'.repeat(5000), compress: false }])).subarray(0, 2000)],
      ['zip slip', await hostileZips.zipSlip()],
      ['absolute path', await hostileZips.absolutePath()],
      ['symlink escape', await hostileZips.symlinkEscape()],
      ['bomb by size', await hostileZips.bombBySize()],
      ['bomb by entries', await hostileZips.bombByEntries(60)],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of cases) {
      const err = await expectApiError(submitter.submitJobWithBundle({ commands: ['ls'] }, new Blob([bytes])), 400, 'invalid_zip');
      expect(err.message, what).toMatch(/bundle/);
    }
    expect((await blobFiles()).length).toBe(before);
    expect(await readdir(join(pool.dataDir, 'tmp'))).toEqual([]);
    expect((await fetch(`${pool.url}/healthz`)).status).toBe(200);
  });

  it('cuts off an upload over the cap with 413', async () => {
    const big = Buffer.alloc(300 * 1024, 1);
    await expectApiError(submitter.submitJobWithBundle({ commands: ['ls'] }, new Blob([big])), 413, 'payload_too_large');
    expect(await readdir(join(pool.dataDir, 'tmp'))).toEqual([]);
  });

  /**
   * A stream as units: each event one, each output byte one (the tests print ASCII). The ids are positions in
   * it, so a full read has `lastId` units and a read resumed at p is the units from p on.
   */
  const units = (events: JobEvent[]) => events.flatMap((e) => (e.type === 'output' ? [...e.data.text] : [`<${e.type}>`]));
  const collect = async (jobId: string, afterId?: number) => {
    const events: JobEvent[] = [];
    for await (const event of submitter.events(jobId, afterId === undefined ? {} : { afterId })) events.push(event);
    return events;
  };
  const expectIncreasingIds = (events: JobEvent[]) => {
    for (let i = 1; i < events.length; i++) expect(events[i]!.id).toBeGreaterThan(events[i - 1]!.id);
  };

  it('streams the backlog to a late subscriber, resumes from Last-Event-ID, and ends after the final state', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'sse' });
    const job = await submitter.submitJob({ commands: ['echo'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    await worker.client.commandStart(lease, 0);
    for (let seq = 0; seq < 5; seq++) await worker.client.sendOutput(lease, [{ seq, stream: 'stdout', data: `line ${seq}\n` }]);

    const seen: JobEvent[] = [];
    for await (const event of submitter.events(job.id)) {
      seen.push(event);
      if (event.type === 'output') break;
    }
    expect(seen.map((e) => e.type)).toEqual(['state', 'state', 'state', 'command', 'output']);
    // The output's id is the position after its last byte: the stream's four events, then 35 bytes.
    expect(seen.at(-1)).toMatchObject({ id: 4 + 35, data: { attempt: 1, stream: 'stdout', offset: 0, text: 'line 0\nline 1\nline 2\nline 3\nline 4\n' } });

    await worker.client.sendOutput(lease, [{ seq: 5, stream: 'stderr', data: 'last\n' }]);
    const live = collect(job.id, seen.at(-1)!.id);
    await worker.client.commandEnd(lease, 0, { exitCode: 0, signal: null, durationMs: 1 });
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    const all = [...seen, ...(await live)];
    expectIncreasingIds(all);
    expect(all.slice(5).map((e) => e.type)).toEqual(['output', 'command', 'state']);
    expect(all[5]).toMatchObject({ data: { stream: 'stderr', offset: 35, text: 'last\n' } });
    expect(units(all)).toHaveLength(all.at(-1)!.id);
    expect(all.at(-1)).toMatchObject({ type: 'state', data: { state: 'succeeded' } });
  });

  it('resumes at any byte offset: what follows it, each byte once, events in place', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'resume' });
    const job = await submitter.submitJob({ commands: ['a', 'b'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    await worker.client.commandStart(lease, 0);
    await worker.client.sendOutput(lease, [{ seq: 0, stream: 'stdout', data: 'alpha\n' }, { seq: 1, stream: 'stderr', data: 'oops\n' }]);
    await worker.client.commandEnd(lease, 0, { exitCode: 0, signal: null, durationMs: 1 });
    await worker.client.commandStart(lease, 1);
    await worker.client.sendOutput(lease, [{ seq: 2, stream: 'stdout', data: 'beta\n' }]);
    await worker.client.commandEnd(lease, 1, { exitCode: 0, signal: null, durationMs: 1 });
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });

    const full = await collect(job.id);
    const whole = units(full);
    expect(whole).toHaveLength(full.at(-1)!.id);
    expect(whole.join('')).toBe('<state><state><state><command>alpha\noops\n<command><command>beta\n<command><state>');
    for (let at = 0; at < whole.length; at++) {
      const resumed = await collect(job.id, at);
      expectIncreasingIds(resumed);
      expect(units(resumed), `resumed at ${at}`).toEqual(whole.slice(at));
    }
    // The streams stay apart however the read is cut.
    const fromOops = await collect(job.id, 4 + 'alpha\no'.length);
    expect(fromOops[0]).toMatchObject({ type: 'output', data: { stream: 'stderr', offset: 7, text: 'ops\n' } });
  });

  it('gives each of many subscribers every byte and event once, in order, across batches, without a listener warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'crowd' });
      const job = await submitter.submitJob({ commands: Array.from({ length: 75 }, (_, i) => `echo ${i}`) });
      const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
      const crowd = Array.from({ length: 12 }, () => collect(job.id));
      // 150 command records between 150 chunks: more than two store batches of events, so subscribers share
      // some reads and page through others.
      for (let seq = 0; seq < 150; seq++) {
        if (seq % 2 === 0) await worker.client.commandStart(lease, seq / 2);
        await worker.client.sendOutput(lease, [{ seq, stream: 'stdout', data: String(seq % 10) }]);
        if (seq % 2 === 1) await worker.client.commandEnd(lease, (seq - 1) / 2, { exitCode: 0, signal: null, durationMs: 1 });
      }
      const resumed = collect(job.id, 70);
      await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
      const results = await Promise.all(crowd);
      const whole = units(results[0]!);
      expect(whole.filter((u) => u === '<command>')).toHaveLength(150);
      expect(whole.filter((u) => !u.startsWith('<')).join('')).toBe(Array.from({ length: 150 }, (_, i) => i % 10).join(''));
      for (const events of results) {
        expectIncreasingIds(events);
        expect(units(events)).toEqual(whole);
        expect(events.at(-1)).toMatchObject({ type: 'state', data: { state: 'succeeded' } });
      }
      expect(units(await resumed)).toEqual(whole.slice(70));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects a Last-Event-ID that is not a number', async () => {
    const job = await submitter.submitJob({ commands: ['true'] });
    const response = await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, {
      headers: { authorization: `Bearer ${pool.adminToken}`, 'last-event-id': 'abc' },
    });
    expect(response.status).toBe(400);
    await submitter.cancelJob(job.id);
  });

  it('keeps the beginning and the latest output past the cap, with one marker', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'chatty' });
    const job = await submitter.submitJob({ commands: ['yes'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    for (let seq = 0; seq < 40; seq++) {
      await worker.client.sendOutput(lease, [{ seq, stream: 'stdout', data: `${String(seq).padStart(3, '0')}:${'x'.repeat(95)}\n` }]);
    }
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    const log = await submitter.getLog(job.id);
    expect(log.startsWith('000:')).toBe(true);
    expect(log.trimEnd().endsWith(`039:${'x'.repeat(95)}`)).toBe(true);
    expect(log.match(/bytes of output dropped/g)).toHaveLength(1);
    expect(log).not.toContain('020:');
    expect(log.length).toBeLessThan(1300);
    const detail = await submitter.getJob(job.id);
    expect(detail.outputTruncated).toBe(true);
    const events: JobEvent[] = [];
    for await (const e of submitter.events(job.id)) events.push(e);
    const cut = events.filter((e) => e.type === 'truncated');
    expect(cut).toHaveLength(1);
    // The stream skips what the log's marker says was dropped, where it was dropped: after the kept beginning.
    const dropped = Number(/(\d+) bytes of output dropped/.exec(log)![1]);
    expect(cut[0]).toMatchObject({ data: { attempt: 1, droppedBytes: dropped } });
    const outputs = events.filter((e) => e.type === 'output');
    expect(outputs[0]).toMatchObject({ data: { offset: 0 } });
    expect(outputs[0]!.data.text).toHaveLength(500);
    expect(outputs[1]).toMatchObject({ data: { offset: 500 + dropped } });
    expect(outputs[1]!.data.offset + outputs.slice(1).reduce((n, e) => n + e.data.text.length, 0)).toBe(4000);
  });

  it('serves artifacts uploaded with the completion', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'artifacts' });
    const job = await submitter.submitJob({ commands: ['make'], outputs: ['out/*.txt'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    await expectApiError(submitter.request(`/api/v1/jobs/${job.id}/artifacts`), 404);
    const artifacts = await makeZip([{ name: 'out/result.txt', data: '42' }]);
    const done = await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 }, new Blob([artifacts]));
    expect(done.hasArtifacts).toBe(true);
    const response = await submitter.request(`/api/v1/jobs/${job.id}/artifacts`);
    expect(response.headers.get('content-type')).toBe('application/zip');
    expect(Buffer.from(await response.arrayBuffer()).equals(artifacts)).toBe(true);
  });

  it('a subscriber that never reads does not hold up the worker', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'busy' });
    const job = await submitter.submitJob({ commands: ['yes'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    const stuck = await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, {
      headers: { authorization: `Bearer ${pool.adminToken}` },
    });
    expect(stuck.status).toBe(200);
    const started = performance.now();
    for (let seq = 0; seq < 50; seq++) {
      await worker.client.sendOutput(lease, [{ seq, stream: 'stdout', data: 'y\n'.repeat(5000) }]);
    }
    expect(performance.now() - started).toBeLessThan(10_000);
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    await stuck.body?.cancel();
    const reader = parseEventStream(
      await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${pool.adminToken}` } }),
    );
    let last: JobEvent | undefined;
    for await (const e of reader) last = e;
    expect(last).toMatchObject({ type: 'state', data: { state: 'succeeded' } });
    await waitFor(async () => (await readFile(join(pool.dataDir, 'admin.token'), 'utf8')).trim() === pool.adminToken);
  });
});
