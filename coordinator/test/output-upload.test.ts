// Raw-byte output uploads (POST /leases/:id/output/bytes) against a real coordinator over real HTTP: an upload
// cut mid-body keeps what it committed and resumes from there, in the stream's numbering with command records;
// the output cap still holds; bad uploads get a clear 4xx.
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { SECRET_MASK } from '../../protocol/secrets';
import { expectApiError } from '../../test/api-error';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitForOutput } from '../../main/agent/test-support';
import { waitFor } from '../../test/wait';
import { UPLOAD_BATCH_BYTES } from '../services/output-upload';

const CHUNK = UPLOAD_BATCH_BYTES / 2;

/** `count` chunks of CHUNK bytes, each line naming its chunk, so order and gaps show in the log. */
function chunksOf(count: number, first = 0): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const line = `chunk ${String(first + i).padStart(4, '0')} ${'x'.repeat(52)}\n`; // 64 bytes
    return Buffer.from(line.repeat(CHUNK / line.length));
  });
}

async function logBytes(client: ApiClient, jobId: string): Promise<Buffer> {
  return Buffer.from(await (await client.request(`/api/v1/jobs/${jobId}/log`)).arrayBuffer());
}

/** Starts the run's upload and sends the first `cutAfter` bytes of its body; the caller drops the connection. */
async function partialUpload(pool: TestCoordinator, token: string, leaseId: string, chunks: Buffer[], cutAfter: number): Promise<http.ClientRequest> {
  const sizes = chunks.map((c) => c.length).join(',');
  const request = http.request(`${pool.url}/api/v1/leases/${leaseId}/output/bytes?seq=0&stream=stdout&sizes=${sizes}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
  });
  request.on('error', () => undefined);
  const sent = Buffer.concat(chunks).subarray(0, cutAfter);
  await new Promise<void>((resolve, reject) => request.write(sent, (err) => (err ? reject(err) : resolve())));
  return request;
}

describe('raw-byte output uploads', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;

  beforeEach(async () => {
    pool = await startTestCoordinator();
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  it('an upload cut mid-body keeps its committed batches; the resumed upload makes the output whole and in order', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['build'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    const chunks = chunksOf(8);
    // Two batches (chunks 0–3) whole, then half of chunk 4: the batches commit while the body is still open.
    const upload = await partialUpload(pool, worker.token, lease, chunks, 4.5 * CHUNK);
    try {
      await waitFor(async () => (await worker.client.outputPosition(lease)).nextSeq === 4, { message: 'the open upload to commit its whole batches' });
      const live = await waitForOutput(submitter, job.id, 'chunk 0003 ');
      expect(Buffer.from(live).equals(Buffer.concat(chunks.slice(0, 4)))).toBe(true);
    } finally {
      // Cut: the half of chunk 4 is never committed.
      upload.destroy();
    }
    // Resumed from the committed position, then a command record and stderr in the same numbering (JSON).
    expect(await worker.client.sendOutputBytes(lease, { seq: 4, stream: 'stdout', chunks: chunks.slice(4) })).toEqual({ nextSeq: 8 });
    await worker.client.sendOutput(lease, [
      { seq: 8, command: { phase: 'start', index: 0 } },
      { seq: 9, stream: 'stderr', data: 'warning: done\n' },
    ]);
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });

    const expected = Buffer.concat([...chunks, Buffer.from('warning: done\n')]);
    expect((await logBytes(submitter, job.id)).equals(expected)).toBe(true);
    // Subscribers see the same bytes in order, the command record after the stdout before it.
    const events: JobEvent[] = [];
    for await (const event of submitter.events(job.id)) events.push(event);
    const stdout = events.filter((e) => e.type === 'output' && e.data.stream === 'stdout').map((e) => (e.type === 'output' ? e.data.text : ''));
    expect(Buffer.from(stdout.join('')).equals(Buffer.concat(chunks))).toBe(true);
    const order = events.filter((e) => e.type !== 'state').map((e) => (e.type === 'output' ? e.data.stream : e.type));
    expect(order.indexOf('command')).toBeGreaterThan(order.lastIndexOf('stdout'));
    expect(order.at(-1)).toBe('stderr');
  });

  it('a resent upload that starts below the committed position stores each chunk once', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['build'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    const chunks = chunksOf(4);
    expect(await worker.client.sendOutputBytes(lease, { seq: 0, stream: 'stdout', chunks: chunks.slice(0, 3) })).toEqual({ nextSeq: 3 });
    // The agent never heard the answer above: it sends from chunk 1 again, with one more.
    expect(await worker.client.sendOutputBytes(lease, { seq: 1, stream: 'stdout', chunks: chunks.slice(1) })).toEqual({ nextSeq: 4 });
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    expect((await logBytes(submitter, job.id)).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('masks the job\'s secrets in raw output as in JSON output (an agent that did not mask leaks nothing)', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['deploy'], secrets: { DEPLOY_KEY: 's3cr3t-value' } });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    await worker.client.sendOutputBytes(lease, { seq: 0, stream: 'stdout', chunks: [Buffer.from('key=s3cr3t-value\n'), Buffer.from('plain\n')] });
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    expect((await logBytes(submitter, job.id)).toString()).toBe(`key=${SECRET_MASK}\nplain\n`);
  });

  it('keeps the beginning and the latest output past the cap, with one cut', async () => {
    await pool.stop();
    pool = await startTestCoordinator({ maxOutputBytes: 4 * CHUNK });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['yes'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    const chunks = chunksOf(12);
    await worker.client.sendOutputBytes(lease, { seq: 0, stream: 'stdout', chunks });
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });

    const log = (await logBytes(submitter, job.id)).toString();
    expect(log.startsWith('chunk 0000 ')).toBe(true);
    expect(log.endsWith(chunks[11]!.toString())).toBe(true);
    expect(log.match(/bytes of output dropped/g)).toHaveLength(1);
    expect(log).not.toContain('chunk 0005 ');
    expect(log.length).toBeLessThan(5 * CHUNK);
    expect((await submitter.getJob(job.id)).outputTruncated).toBe(true);
  });

  it('refuses an upload whose body does not match its sizes, or that is not raw bytes, in one clear line', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    await submitter.submitJob({ commands: ['build'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    const path = `/api/v1/leases/${lease}/output/bytes`;
    const post = (query: string, body: string, type = 'application/octet-stream') =>
      worker.client.request(`${path}?${query}`, { method: 'POST', body, headers: { 'content-type': type } });
    await expectApiError(post('seq=0&stream=stdout&sizes=3', 'abcdef'), 400, 'invalid_request');
    await expectApiError(post('seq=1&stream=stdout&sizes=3,3', 'abcd'), 400, 'invalid_request');
    await expectApiError(post('seq=0&stream=stdout&sizes=0', ''), 400, 'invalid_request');
    await expectApiError(post(`seq=0&stream=stdout&sizes=${Array(257).fill(1).join(',')}`, 'x'.repeat(257)), 400, 'invalid_request');
    await expectApiError(post('seq=0&stream=stdout&sizes=3', 'abc', 'application/json'), 415);
    await expectApiError(post('seq=0&stream=stdin&sizes=3', 'abc'), 400, 'invalid_request');
    await expectApiError(post('seq=5&stream=stdout&sizes=3', 'abc'), 409, 'seq_gap');
    // A seq that is not a whole number in decimal is refused, not read as 0 (empty, blank) or 16 (0x10).
    for (const seq of ['', '%20', '0x10', '1.0']) await expectApiError(post(`seq=${seq}&stream=stdout&sizes=3`, 'abc'), 400, 'invalid_request');
    // What came whole before a refused body's fault is kept: "abc" of "abcdef" (sizes=3), and one chunk of "abcd".
    expect(await worker.client.outputPosition(lease)).toEqual({ nextSeq: 2 });
  });
});
