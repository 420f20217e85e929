// The browser side: security headers on every UI response, the Host header checked (DNS rebinding), /metrics
// not open to non-loopback names, and the desktop app's proxy serving only the API's content types.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppProtocolHandler, upstreamTo } from '../../main/app-protocol';
import { CONTENT_SECURITY_POLICY } from '../../protocol/web-security';
import { makeTempDir, startTestCoordinator, type TestCoordinator } from '../../test/pool';

/** A raw request, so the Host header can be anything (fetch does not let a page choose it; a rebound name does). */
function get(url: string, path: string, host: string, token?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}${path}`, { headers: { host, ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (response) => {
      let body = '';
      response.on('data', (d: Buffer) => (body += d));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
  });
}

describe('web security', () => {
  let pool: TestCoordinator;
  let staticDir: string;

  beforeAll(async () => {
    staticDir = await makeTempDir('cmdx-ui-');
    await mkdir(join(staticDir, 'assets'));
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>cmd-executor</title>');
    await writeFile(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
    pool = await startTestCoordinator({ staticDir, allowedHosts: ['pool.example.test'] });
  });
  afterAll(async () => {
    await pool.stop();
    await rm(staticDir, { recursive: true, force: true });
  });

  it('sends CSP, frame-ancestors none, nosniff and a referrer policy with every UI and API response', async () => {
    for (const path of ['/', '/assets/app.js', '/jobs/some-page', '/api/v1/jobs', '/healthz']) {
      const response = await get(pool.url, path, new URL(pool.url).host);
      expect(response.headers['content-security-policy'], path).toBe(CONTENT_SECURITY_POLICY);
      expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
      expect(response.headers['x-content-type-options'], path).toBe('nosniff');
      expect(response.headers['referrer-policy'], path).toBe('no-referrer');
    }
  });

  it('refuses Host names it does not answer to, and keeps /metrics closed to non-loopback names', async () => {
    const rebound = await get(pool.url, '/', 'evil.example.com');
    expect(rebound.status).toBe(421);
    expect(rebound.body).toMatch(/does not answer to the name .*evil\.example\.com.*--allowed-host/);
    expect((await get(pool.url, '/metrics', 'evil.example.com:80')).status).toBe(421);
    expect((await get(pool.url, '/healthz', 'pool.example.test:8080')).status).toBe(200);
    expect((await get(pool.url, '/healthz', os.hostname())).status).toBe(200);
    expect((await get(pool.url, '/metrics', 'localhost')).status).toBe(200);
    expect((await get(pool.url, '/metrics', 'pool.example.test')).status).toBe(401);
    expect((await get(pool.url, '/metrics', 'pool.example.test', pool.adminToken)).status).toBe(200);
  });

  it("the app proxy refuses an upstream answering HTML into the app's origin, and adds its headers to API answers", async () => {
    const hostile = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<script>steal()</script>');
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hostile.address() as AddressInfo).port;
      const viaHostile = createAppProtocolHandler({ rendererDir: staticDir, upstream: () => upstreamTo([`http://127.0.0.1:${port}`], 't') });
      const refused = await viaHostile(new Request('app://cmdx/api/v1/jobs'));
      expect(refused.status).toBe(502);
      expect(await refused.text()).not.toContain('steal');
      const viaPool = createAppProtocolHandler({ rendererDir: staticDir, upstream: () => upstreamTo([pool.url], pool.adminToken) });
      const ok = await viaPool(new Request('app://cmdx/api/v1/jobs'));
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
      await writeFile(join(staticDir, 'assets', 'page.xhtml'), '<html/>');
      expect((await viaPool(new Request('app://cmdx/assets/page.xhtml'))).status).toBe(404);
    } finally {
      hostile.close();
    }
  });
});
