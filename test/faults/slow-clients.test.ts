// Slow and stuck clients: 500 event-stream subscribers that never read must not stall a job or hold its output
// in memory, and a client that connects and sends nothing (or half a request) is dropped after a timeout.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX, type JobEvent } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../pool';

const MiB = 1024 * 1024;
const HEADERS_TIMEOUT_MS = 1000;
/** Node checks for overdue headers on a timer; the coordinator sets it to at most 1 s (connectionsCheckingInterval). */
const NODE_CHECK_INTERVAL_MS = 1000;

describe('slow and stuck clients', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;
  let worker: Awaited<ReturnType<typeof registerTestWorker>>;
  const port = () => Number(new URL(pool.url).port);

  beforeAll(async () => {
    pool = await startTestCoordinator({ maxOutputBytes: 64 * MiB, headersTimeoutMs: HEADERS_TIMEOUT_MS });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    worker = await registerTestWorker(pool.url, pool.joinToken);
  });
  afterAll(() => pool.stop());

  /** A job whose worker sends `chunks` × 64 KiB of output; resolves with how long the worker took. */
  async function chattyJob(chunks: number, beforeOutput: (jobId: string) => Promise<void> = async () => {}) {
    const job = await submitter.submitJob({ commands: ['yes'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    await beforeOutput(job.id);
    const line = `${'y'.repeat(1023)}\n`.repeat(64);
    const started = performance.now();
    for (let seq = 0; seq < chunks; seq++) await worker.client.sendOutput(lease, [{ seq, stream: 'stdout', data: line }]);
    await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    return { id: job.id, ms: performance.now() - started, bytes: chunks * line.length };
  }

  it('500 subscribers that never read neither stall a job nor hold its output in memory', { timeout: 60_000 }, async () => {
    const alone = await chattyJob(32);
    const stuck: net.Socket[] = [];
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
    const watched = await chattyJob(32, async (jobId) => {
      for (let i = 0; i < 500; i++) {
        const socket = net.connect(port(), '127.0.0.1');
        socket.pause(); // never reads: the kernel buffers fill, then the coordinator's writes back up
        socket.on('error', () => {});
        socket.write(`GET ${API_PREFIX}/jobs/${jobId}/events HTTP/1.1\r\nHost: cmdx\r\nAuthorization: Bearer ${pool.adminToken}\r\n\r\n`);
        stuck.push(socket);
      }
    });
    clearInterval(sampler);
    try {
      // The worker was answered all along: the job finished, at worst some times slower than alone (its
      // output is still copied to 500 sockets on the same event loop), never held up by the readers.
      expect(watched.ms).toBeLessThan(20 * alone.ms + 5000);
      expect(rssPeak - rssBefore).toBeLessThan(192 * MiB);
      expect(stuck.filter((s) => s.destroyed)).toHaveLength(0);
      // A subscriber that does read still gets every byte, and the stream ends with the result.
      let bytes = 0;
      let last: JobEvent | undefined;
      for await (const event of submitter.events(watched.id)) {
        if (event.type === 'output') bytes += event.data.text.length;
        last = event;
      }
      expect(bytes).toBe(watched.bytes);
      expect(last).toMatchObject({ type: 'state', data: { state: 'succeeded' } });
    } finally {
      for (const socket of stuck) socket.destroy();
    }
  });

  it('drops a client that connects and sends nothing, or half a request, with 408', { timeout: 30_000 }, async () => {
    // A coordinator of its own: the 500 streams of the test before belong to the other one.
    const quiet = await startTestCoordinator({ headersTimeoutMs: HEADERS_TIMEOUT_MS });
    const silent = (firstBytes: string) =>
      new Promise<{ answer: string; ms: number }>((resolve) => {
        const started = performance.now();
        let answer = '';
        const socket = net.connect(Number(new URL(quiet.url).port), '127.0.0.1', () => {
          if (firstBytes) socket.write(firstBytes);
        });
        socket.on('data', (data: Buffer) => (answer += data.toString()));
        socket.on('error', () => {});
        socket.on('close', () => resolve({ answer, ms: performance.now() - started }));
      });
    const [nothing, half] = await Promise.all([silent(''), silent(`GET ${API_PREFIX}/jobs HTTP/1.1\r\nHost: cmdx\r\n`)]);
    for (const dropped of [nothing, half]) {
      expect(dropped.answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(dropped.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
      expect(dropped.ms).toBeLessThan(HEADERS_TIMEOUT_MS + NODE_CHECK_INTERVAL_MS + 5000);
    }
    expect((await fetch(`${quiet.url}/healthz`)).status).toBe(200);
    await quiet.stop();
  });
});
