// HTTPS with a self-signed certificate made once into the data dir; clients pin its fingerprint: the right one
// is accepted, a wrong one (another server, a man in the middle) refused, and plain http:// across the network
// refused unless --insecure-http.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { Agent } from '../../main/agent';
import { AgentFleet, memoryLogger, waitForJob } from '../../main/agent/test-support';
import { checkServerUrl, transportFetch } from '../../main/agent/transport';
import { createAppProtocolHandler, upstreamTo } from '../../main/app-protocol';
import { makeTempDir, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { fingerprintOf, tlsMode } from '../services/tls';

const WRONG = 'AA:'.repeat(31) + 'AA';
const repo = fileURLToPath(new URL('../..', import.meta.url));

function submitCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(repo, 'bin', 'submit.js'), ...args], { cwd: repo, env: { PATH: process.env.PATH!, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('TLS by default off loopback', () => {
  let pool: TestCoordinator;
  const fleet = new AgentFleet();

  beforeAll(async () => {
    pool = await startTestCoordinator({ tls: 'self-signed' });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await pool.stop();
  });

  it('makes the certificate once, keeps it in the data dir, and serves HTTPS with it', async () => {
    expect(pool.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const cert = await readFile(join(pool.dataDir, 'tls', 'cert.pem'));
    expect(pool.coordinator.fingerprint).toBe(fingerprintOf(cert));
    expect(pool.coordinator.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // One coordinator per data dir: the restart comes after the stop, and serves the rest of the suite.
    const fingerprint = pool.coordinator.fingerprint;
    await pool.stop({ keepData: true });
    pool = await startTestCoordinator({ dataDir: pool.dataDir, tls: 'self-signed' });
    expect(pool.coordinator.fingerprint).toBe(fingerprint);
    expect((await pool.coordinator.createInvite()).fingerprint).toBe(pool.coordinator.fingerprint);
  });

  it('the API client accepts the pinned fingerprint and refuses a wrong one or none', async () => {
    const pinned = new ApiClient({ baseUrl: pool.url, token: pool.adminToken, fetch: transportFetch(pool.url, { fingerprint: pool.coordinator.fingerprint! }) });
    expect((await pinned.listJobs()).jobs).toEqual([]);
    const lowercase = pool.coordinator.fingerprint!.replace(/:/g, '').toLowerCase();
    expect((await new ApiClient({ baseUrl: pool.url, token: pool.adminToken, fetch: transportFetch(pool.url, { fingerprint: lowercase }) }).listJobs()).jobs).toEqual([]);
    const wrong = new ApiClient({ baseUrl: pool.url, token: pool.adminToken, fetch: transportFetch(pool.url, { fingerprint: WRONG }) });
    await expect(wrong.listJobs()).rejects.toThrow(/cannot reach/);
    const unpinned = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    await expect(unpinned.listJobs()).rejects.toThrow(/cannot reach/);
  });

  it('serves HTTPS on every non-loopback address unless --insecure-http, and with a given certificate anywhere', () => {
    expect(tlsMode('0.0.0.0', undefined, false)).toBe('self-signed');
    expect(tlsMode('192.168.1.20', undefined, false)).toBe('self-signed');
    expect(tlsMode('::', undefined, false)).toBe('self-signed');
    expect(tlsMode('0.0.0.0', undefined, true)).toBe('none');
    expect(tlsMode('127.0.0.1', undefined, false)).toBe('none');
    expect(tlsMode('localhost', undefined, false)).toBe('none');
    expect(tlsMode('127.0.0.1', { cert: 'c', key: 'k' }, true)).toBe('given');
  });

  it('clients refuse plain http:// to another machine unless told, and a malformed fingerprint', () => {
    expect(() => checkServerUrl('http://192.168.1.20:8080', {})).toThrow(/plain HTTP to another machine/);
    expect(() => checkServerUrl('http://192.168.1.20:8080', { insecureHttp: true })).not.toThrow();
    expect(() => checkServerUrl('http://127.0.0.1:8080', {})).not.toThrow();
    expect(() => checkServerUrl('https://pool:8080', { fingerprint: 'abc' })).toThrow(/not a SHA-256 fingerprint/);
  });

  it('the submit CLI pins: the right fingerprint runs the job, a wrong one is refused', async () => {
    await fleet.start({
      server: pool.url,
      joinToken: pool.joinToken,
      name: 'tls-agent',
      fetch: transportFetch(pool.url, { fingerprint: pool.coordinator.fingerprint! }),
    });
    const env = { CMDX_SERVER: pool.url, CMDX_TOKEN: pool.adminToken };
    const ok = await submitCli(['echo over tls'], { ...env, CMDX_FINGERPRINT: pool.coordinator.fingerprint! });
    expect(ok).toMatchObject({ code: 0, stdout: 'over tls\n' });
    const refused = await submitCli(['echo never'], { ...env, CMDX_FINGERPRINT: WRONG });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/could not submit the job: cannot reach/);
    const plain = await submitCli(['echo never'], { CMDX_SERVER: 'http://10.1.2.3:8080', CMDX_TOKEN: 'x' });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/plain HTTP to another machine/);
  });

  it('the agent pins too: with a wrong fingerprint it never reaches the pool', async () => {
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken, fetch: transportFetch(pool.url, { fingerprint: pool.coordinator.fingerprint! }) });
    const job = await admin.submitJob({ commands: ['echo pinned agent'], labels: ['host:tls-agent'] });
    expect((await waitForJob(admin, job.id)).state).toBe('succeeded');
    const logger = memoryLogger();
    const workDir = await makeTempDir('cmdx-agent-');
    const misled = new Agent({
      server: pool.url,
      joinToken: pool.joinToken,
      name: 'wrong-pin',
      workDir,
      logger,
      backoff: { baseMs: 50, maxMs: 200 },
      fetch: transportFetch(pool.url, { fingerprint: WRONG }),
    });
    const starting = misled.start().catch(() => undefined);
    try {
      await waitFor(() => logger.lines.some((line) => line.includes('cannot reach the coordinator')), { message: 'the refused connection' });
      expect(misled.status().state).toBe('starting');
      expect((await admin.listWorkers()).map((w) => w.name)).not.toContain('wrong-pin');
    } finally {
      await misled.stop({ graceMs: 0 });
      await starting;
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it("the desktop app's proxy pins the coordinator it forwards to", async () => {
    const handler = (fingerprint: string) =>
      createAppProtocolHandler({
        rendererDir: repo,
        upstream: () => upstreamTo([pool.url], pool.adminToken, fingerprint),
      });
    const ok = await handler(pool.coordinator.fingerprint!)(new Request('app://cmdx/api/v1/jobs'));
    expect(ok.status).toBe(200);
    const refused = await handler(WRONG)(new Request('app://cmdx/api/v1/jobs'));
    expect(refused.status).toBe(502);
  });
});
