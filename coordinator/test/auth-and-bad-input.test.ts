import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { queryStoreOf, startTestCoordinator, registerTestWorker, type TestCoordinator } from '../../test/pool';

/** Every answer of this coordinator to bad input: a 4xx with a readable `{error: {code, message}}`, never a stack. */
async function call(
  pool: TestCoordinator,
  method: string,
  path: string,
  options: { token?: string | null; body?: string | Buffer; type?: string } = {},
): Promise<{ status: number; code: string; message: string }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? pool.adminToken : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = options.type ?? 'application/json';
  const response = await fetch(`${pool.url}${path}`, { method, headers, ...(options.body !== undefined ? { body: options.body } : {}) });
  const text = await response.text();
  let parsed: { error?: { code: string; message: string } } = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // bodies of successful non-JSON answers
  }
  if (response.status >= 400) {
    expect(parsed.error?.message, `${method} ${path} → ${response.status}: ${text}`).toBeTruthy();
    expect(text).not.toMatch(/at \w+ \(|node_modules/);
  }
  return { status: response.status, code: parsed.error?.code ?? '', message: parsed.error?.message ?? '' };
}

describe('auth per role and bad input', () => {
  let pool: TestCoordinator;
  let submitToken: string;
  let worker: { id: string; token: string };
  let jobId: string;

  beforeAll(async () => {
    pool = await startTestCoordinator();
    submitToken = await pool.coordinator.createToken('alice', 'submit');
    const registered = await registerTestWorker(pool.url, pool.joinToken);
    worker = { id: registered.id, token: registered.token };
    const created = await fetch(`${pool.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${submitToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ commands: ['echo hi'] }),
    });
    jobId = ((await created.json()) as { job: { id: string } }).job.id;
  });
  afterAll(() => pool.stop());

  const submitRoutes: [string, string][] = [
    ['GET', '/api/v1/jobs'],
    ['POST', '/api/v1/jobs'],
    ['GET', '/api/v1/jobs/ID'],
    ['GET', '/api/v1/jobs/ID/log'],
    ['GET', '/api/v1/jobs/ID/events'],
    ['GET', '/api/v1/jobs/ID/artifacts'],
    ['POST', '/api/v1/jobs/ID/cancel'],
    ['GET', '/api/v1/workers'],
  ];
  const workerRoutes: [string, string][] = [
    ['POST', '/api/v1/workers/WID/heartbeat'],
    ['POST', '/api/v1/workers/WID/claim'],
    ['DELETE', '/api/v1/workers/WID'],
    ['POST', '/api/v1/leases/L/output'],
    ['POST', '/api/v1/leases/L/complete'],
    ['POST', '/api/v1/leases/L/state'],
    ['POST', '/api/v1/leases/L/release'],
    ['POST', '/api/v1/leases/L/commands/0/start'],
    ['POST', '/api/v1/leases/L/commands/0/end'],
    ['GET', '/api/v1/leases/L/bundle'],
  ];
  const fill = (path: string) => path.replace('WID', worker.id).replace('ID', jobId);

  it('every route refuses a missing or unknown token with 401', async () => {
    for (const [method, path] of [...submitRoutes, ...workerRoutes, ['POST', '/api/v1/workers'] as [string, string]]) {
      expect((await call(pool, method, fill(path), { token: null })).status, `${method} ${path}`).toBe(401);
      expect((await call(pool, method, fill(path), { token: 'cmdx_submit_forged' })).status, `${method} ${path}`).toBe(401);
    }
    expect((await call(pool, 'GET', '/api/v1/jobs', { token: 'a b c' })).status).toBe(401);
  });

  it('roles see only their own routes', async () => {
    for (const [method, path] of submitRoutes) {
      expect((await call(pool, method, fill(path), { token: worker.token })).status, `worker on ${path}`).toBe(403);
      expect((await call(pool, method, fill(path), { token: pool.joinToken })).status, `join on ${path}`).toBe(403);
    }
    for (const [method, path] of workerRoutes.filter(([, p]) => p.startsWith('/api/v1/leases'))) {
      expect((await call(pool, method, fill(path), { token: submitToken })).status, `submitter on ${path}`).toBe(403);
    }
    expect((await call(pool, 'POST', fill('/api/v1/workers/WID/claim'), { token: submitToken, body: '{}' })).status).toBe(403);
    expect((await call(pool, 'POST', '/api/v1/workers', { token: submitToken, body: '{"name":"x","os":"linux"}' })).status).toBe(403);
    expect((await call(pool, 'GET', '/api/v1/jobs', { token: submitToken })).status).toBe(200);
    expect((await call(pool, 'GET', fill('/api/v1/jobs/ID'), { token: pool.adminToken })).status).toBe(200);
  });

  it('tells each token who it is (name and role), and no one without a token', async () => {
    const me = (token: string) => new ApiClient({ baseUrl: pool.url, token }).whoAmI();
    expect(await me(submitToken)).toEqual({ name: 'alice', role: 'submit' });
    expect(await me(pool.adminToken)).toMatchObject({ role: 'admin' });
    expect(await me(worker.token)).toMatchObject({ role: 'worker' });
    expect((await call(pool, 'GET', '/api/v1/me', { token: null })).status).toBe(401);
  });

  it('answers unknown ids with 404 and unknown routes with 404 JSON', async () => {
    expect(await call(pool, 'GET', '/api/v1/jobs/job_nope')).toMatchObject({ status: 404, code: 'not_found' });
    expect((await call(pool, 'POST', '/api/v1/jobs/job_nope/cancel')).status).toBe(404);
    expect((await call(pool, 'GET', '/api/v1/nothing-here')).status).toBe(404);
    expect((await call(pool, 'POST', '/api/v1/leases/lse_nope/output', { token: worker.token, body: '{"chunks":[{"seq":0,"stream":"stdout","data":"x"}]}' })).status).toBe(404);
  });

  it('refuses malformed job specs with 400 and a message naming the field', async () => {
    const bad: [string, RegExp][] = [
      ['{', /JSON/],
      ['[]', /./],
      ['{}', /commands/],
      ['{"commands": []}', /commands/],
      ['{"commands": "echo"}', /commands/],
      ['{"commands": [42]}', /commands/],
      ['{"commands": ["   "]}', /blank/],
      ['{"commands": ["echo \\u0000 nul"]}', /NUL/],
      ['{"commands": ["ok"], "timeoutSec": -5}', /timeoutSec/],
      ['{"commands": ["ok"], "timeoutSec": 1e300}', /timeoutSec/],
      ['{"commands": ["ok"], "priority": "high"}', /priority/],
      ['{"commands": ["ok"], "maxAttempts": 0}', /maxAttempts/],
      ['{"commands": ["ok"], "labels": ["has space"]}', /labels/],
      ['{"commands": ["ok"], "env": {"1BAD": "x"}}', /env/],
      ['{"commands": ["ok"], "outputs": ["../../etc/passwd"]}', /outputs/],
      ['{"commands": ["ok"], "outputs": ["/abs/*"]}', /outputs/],
      ['{"commands": ["ok"], "unknownField": 1}', /unknownField|Unrecognized/i],
      ['{"commands": ["ok"], "name": "' + 'n'.repeat(300) + '"}', /name/],
    ];
    for (const [body, message] of bad) {
      const answer = await call(pool, 'POST', '/api/v1/jobs', { body, token: submitToken });
      expect(answer.status, body.slice(0, 60)).toBe(400);
      expect(answer.message, body.slice(0, 60)).toMatch(message);
    }
  });

  it('refuses wrong content types, huge and deeply nested JSON', async () => {
    expect((await call(pool, 'POST', '/api/v1/jobs', { body: 'commands=ls', type: 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await call(pool, 'POST', '/api/v1/jobs', { body: 'echo hi', type: 'text/plain' })).status).toBe(415);
    const huge = JSON.stringify({ commands: ['x'.repeat(2 * 1024 * 1024)] });
    expect((await call(pool, 'POST', '/api/v1/jobs', { body: huge })).status).toBe(413);
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect((await call(pool, 'POST', '/api/v1/jobs', { body: deep })).status).toBe(400);
    const multipartNoSpec = new FormData();
    multipartNoSpec.append('other', 'x');
    const response = await fetch(`${pool.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pool.adminToken}` },
      body: multipartNoSpec,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/spec/);
  });

  it('refuses a body its Content-Encoding does not decode with 400, on Koa\'s routes and the claim alike', async () => {
    const corrupt = (path: string, token: string) =>
      fetch(`${pool.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: '{"commands":["ls"]}',
      });
    for (const response of [await corrupt('/api/v1/jobs', pool.adminToken), await corrupt(`/api/v1/workers/${worker.id}/claim`, worker.token)]) {
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('bad_encoding');
    }
  });

  it('keeps unicode intact and refuses bad query parameters', async () => {
    const created = await call(pool, 'POST', '/api/v1/jobs', { body: JSON.stringify({ commands: ['echo 日本語 ✓ 🚀'], name: 'ünïcödé' }) });
    expect(created.status).toBe(201);
    expect((await call(pool, 'GET', '/api/v1/jobs?state=bogus')).status).toBe(400);
    expect((await call(pool, 'GET', '/api/v1/jobs?limit=-1')).status).toBe(400);
    expect((await call(pool, 'GET', '/api/v1/jobs?limit=abc')).status).toBe(400);
    expect((await call(pool, 'GET', '/api/v1/jobs?cursor=xyz')).status).toBe(400);
    expect((await call(pool, 'GET', '/api/v1/jobs?state=queued,running')).status).toBe(200);
  });

  it('refuses bad worker registrations, heartbeats and lease calls', async () => {
    const join = pool.joinToken;
    expect((await call(pool, 'POST', '/api/v1/workers', { token: join, body: '{}' })).status).toBe(400);
    expect((await call(pool, 'POST', '/api/v1/workers', { token: join, body: '{"name":"x","os":"linux","slots":0}' })).status).toBe(400);
    expect((await call(pool, 'POST', '/api/v1/workers', { token: join, body: '{"name":"x","os":"linux","slots":1e9}' })).status).toBe(400);
    expect((await call(pool, 'POST', fill('/api/v1/workers/WID/heartbeat'), { token: worker.token, body: '{"state":"dancing"}' })).status).toBe(400);
    expect((await call(pool, 'POST', fill('/api/v1/workers/WID/claim'), { token: worker.token, body: '{"waitMs":99999999}' })).status).toBe(400);
    expect((await call(pool, 'POST', fill('/api/v1/workers/WID/claim'), { token: worker.token, body: '{"waitMs":"soon"}' })).status).toBe(400);
    const lease = '/api/v1/leases/lse_x';
    expect((await call(pool, 'POST', `${lease}/output`, { token: worker.token, body: '{"chunks":[{"seq":-1,"stream":"stdout","data":"x"}]}' })).status).toBe(400);
    expect((await call(pool, 'POST', `${lease}/output`, { token: worker.token, body: '{"chunks":[{"seq":0,"stream":"stdweird","data":"x"}]}' })).status).toBe(400);
    expect((await call(pool, 'POST', `${lease}/commands/abc/start`, { token: worker.token, body: '{}' })).status).toBe(400);
    expect((await call(pool, 'POST', `${lease}/complete`, { token: worker.token, body: '{"outcome":"great"}' })).status).toBe(400);
    expect((await call(pool, 'POST', `${lease}/release`, { token: worker.token, body: '{}' })).status).toBe(400);
  });

  it('writes mutating calls to the audit log: who, what, when, from where', async () => {
    const rows = await queryStoreOf(pool.dataDir, 'SELECT actor, role, action, target, ip, at FROM audit ORDER BY id');
    expect(rows.find((r) => r.action === 'job.submit' && r.actor === 'alice')).toMatchObject({ role: 'submit', target: jobId });
    expect(rows.find((r) => r.action === 'worker.register')).toMatchObject({ actor: 'join', target: worker.id });
    expect(rows.every((r) => typeof r.at === 'number' && String(r.ip).includes('127.0.0.1'))).toBe(true);
    expect(rows.some((r) => r.action === 'job.submit' && r.actor === 'anonymous')).toBe(false);
  });

  it('is still serving after all of that', async () => {
    expect((await fetch(`${pool.url}/healthz`)).status).toBe(200);
    expect((await call(pool, 'GET', fill('/api/v1/jobs/ID'), { token: submitToken })).status).toBe(200);
  });

  it('serves metrics on loopback without a token, and refuses non-admin tokens', async () => {
    const metrics = await fetch(`${pool.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    for (const name of ['cmdx_jobs{state="queued"', 'cmdx_queue_depth', 'cmdx_workers{state="idle"', 'cmdx_claim_latency_seconds_bucket', 'cmdx_lease_expiries_total', 'cmdx_http_request_duration_seconds_bucket']) {
      expect(text).toContain(name);
    }
    // One node alone exports the pool's gauges too, and every series says which node it came from.
    const samples = text.split('\n').filter((line) => line && !line.startsWith('#'));
    expect(samples.filter((line) => !line.includes(`instance="${new URL(pool.url).host}"`))).toEqual([]);
    expect((await call(pool, 'GET', '/metrics', { token: submitToken })).status).toBe(403);
    expect((await fetch(`${pool.url}/metrics`, { headers: { authorization: `Bearer ${pool.adminToken}` } })).status).toBe(200);
  });
});
