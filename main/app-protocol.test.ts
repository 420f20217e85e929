import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client';
import type { JobEvent } from '../protocol/api';
import { expectApiError } from '../test/api-error';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../test/pool';
import { makeZip } from '../test/zips';
import { CONTENT_SECURITY_POLICY, createAppProtocolHandler, upstreamTo, type Upstream } from './app-protocol';

let pool: TestCoordinator;
let rendererDir: string;
let upstream: Upstream | null;
let handler: (request: Request) => Promise<Response>;

/** The renderer's view: the one API client with app://cmdx as its base, every call going through the handler. */
const rendererClient = (token?: string) =>
  new ApiClient({
    baseUrl: 'app://cmdx',
    ...(token ? { token } : {}),
    fetch: (input, init) => handler(new Request(input as string, init)),
  });

beforeAll(async () => {
  pool = await startTestCoordinator();
  rendererDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cmdx-renderer-'));
  await fs.mkdir(path.join(rendererDir, 'assets'));
  await fs.writeFile(path.join(rendererDir, 'index.html'), '<!doctype html><title>cmd-executor</title>');
  await fs.writeFile(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  await fs.writeFile(path.join(os.tmpdir(), 'cmdx-outside-secret.txt'), 'secret');
  upstream = upstreamTo([pool.url], pool.adminToken);
  handler = createAppProtocolHandler({ rendererDir, upstream: () => upstream });
});

afterAll(async () => {
  await pool.stop();
  await fs.rm(rendererDir, { recursive: true, force: true });
  await fs.rm(path.join(os.tmpdir(), 'cmdx-outside-secret.txt'), { force: true });
});

describe('app:// static files', () => {
  it('serves index.html at / with the strict CSP', async () => {
    const response = await handler(new Request('app://cmdx/'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
    expect(await response.text()).toContain('<title>cmd-executor</title>');
  });

  it('serves assets with their content type', async () => {
    const response = await handler(new Request('app://cmdx/assets/app.js'));
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await response.text()).toBe('console.log(1)');
  });

  it('never serves a file outside the renderer folder', async () => {
    const outside = path.relative(rendererDir, path.join(os.tmpdir(), 'cmdx-outside-secret.txt'));
    for (const url of [
      `app://cmdx/${outside}`,
      `app://cmdx/%2e%2e%2f${path.basename(outside)}`,
      `app://cmdx/assets/..%2f..%2f${path.basename(outside)}`,
      'app://cmdx/%E0%A4%A',
    ]) {
      const response = await handler(new Request(url));
      expect([400, 404], url).toContain(response.status);
      expect(await response.text()).not.toContain('secret');
    }
  });

  it('answers 404 for a missing file and 405 for a POST outside the API', async () => {
    expect((await handler(new Request('app://cmdx/nope.js'))).status).toBe(404);
    expect((await handler(new Request('app://cmdx/index.html', { method: 'POST', body: 'x' }))).status).toBe(405);
  });
});

describe('app://cmdx/api/v1 proxy to the coordinator', () => {
  it('adds this PC token when the renderer sends none', async () => {
    const job = await rendererClient().submitJob({ commands: ['echo hi'], name: 'via proxy' });
    expect(job.name).toBe('via proxy');
    expect((await rendererClient().getJob(job.id)).id).toBe(job.id);
    expect((await rendererClient().cancelJob(job.id)).state).toBe('cancelled');
  });

  it("keeps the renderer's own token when it sends one (and the coordinator judges it)", async () => {
    await expectApiError(rendererClient('cmdx_submit_not-a-real-token').listJobs(), 401);
  });

  it('streams multipart uploads and event streams both ways', async () => {
    const zip = await makeZip([{ name: 'data.txt', data: 'from the zip' }]);
    const client = rendererClient();
    const job = await client.submitJobWithBundle(
      { commands: ['cat data.txt'], name: 'zip via proxy' },
      new Blob([new Uint8Array(zip)], { type: 'application/zip' }),
      'bundle.zip',
    );
    expect(job.bundle?.size).toBe(zip.length);

    // a hand-made worker runs it (the only queued job by now), so the stream has output and a terminal state
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const claim = await worker.client.claim(worker.id, 5000);
    expect(claim?.job.id).toBe(job.id);
    const leaseId = claim!.lease.id;
    await worker.client.setLeaseState(leaseId, 'running');
    await worker.client.sendOutput(leaseId, [{ seq: 0, stream: 'stdout', data: 'from the zip\n' }]);
    await worker.client.complete(leaseId, { outcome: 'succeeded', exitCode: 0 });

    const seen: JobEvent[] = [];
    for await (const event of client.events(job.id)) seen.push(event);
    expect(seen.filter((e) => e.type === 'output').map((e) => (e.data as { text: string }).text)).toEqual(['from the zip\n']);
    expect(seen.at(-1)).toMatchObject({ type: 'state', data: { state: 'succeeded' } });
  });

  it('sends an API call to the next node when the first is down, its body with it', async () => {
    const down = 'http://127.0.0.1:9';
    upstream = upstreamTo([down, pool.url], pool.adminToken);
    try {
      // Built as Chromium hands it to protocol.handle: the body a stream, its length said.
      const body = JSON.stringify({ commands: ['echo failed over'], name: 'failover' });
      const response = await handler(
        new Request('app://cmdx/api/v1/jobs', { method: 'POST', body: new Blob([body]).stream(), duplex: 'half', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } } as RequestInit),
      );
      expect(response.status).toBe(201);
      const { job } = (await response.json()) as { job: { id: string; name: string } };
      expect(job.name).toBe('failover');
      await rendererClient().cancelJob(job.id);
      upstream = upstreamTo([down, 'http://127.0.0.1:10'], pool.adminToken);
      const unreachable = await expectApiError(rendererClient().listJobs(), 502, 'unreachable');
      expect(unreachable.message).toMatch(/^cannot reach the coordinator at http:\/\/127\.0\.0\.1:9, http:\/\/127\.0\.0\.1:10: fetch failed at each of/);
    } finally {
      upstream = upstreamTo([pool.url], pool.adminToken);
    }
  });

  it('delivers a live event before the stream ends (no buffering in the proxy)', async () => {
    const job = await rendererClient().submitJob({ commands: ['sleep 100'], name: 'live' });
    const abort = new AbortController();
    const response = await handler(
      new Request(`app://cmdx/api/v1/jobs/${job.id}/events`, { signal: abort.signal, headers: { accept: 'text/event-stream' } }),
    );
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    expect(first.value).toMatch(/event: state/);
    abort.abort();
    await reader.cancel().catch(() => undefined);
    await rendererClient().cancelJob(job.id);
  });

  it('explains when no coordinator is configured, and when it cannot be reached', async () => {
    upstream = null;
    try {
      const notConfigured = await expectApiError(rendererClient().listJobs(), 503, 'not_configured');
      expect(notConfigured.message).toMatch(/Settings/);
      upstream = upstreamTo(['http://127.0.0.1:9'], 'x');
      const unreachable = await expectApiError(rendererClient().listJobs(), 502, 'unreachable');
      expect(unreachable.message).toMatch(/^cannot reach the coordinator at http:\/\/127\.0\.0\.1:9/);
    } finally {
      upstream = upstreamTo([pool.url], pool.adminToken);
    }
  });
});
