// The seed's curl walk-through (IMPLEMENTATION_GUIDE "Or Test via API"), with a token added.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../../../test/pool';

describe('seed routes over v1', () => {
  let pool: TestCoordinator;
  beforeEach(async () => {
    pool = await startTestCoordinator();
  });
  afterEach(() => pool.stop());

  const curl = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${pool.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the seed's answers are loosely shaped JSON
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };

  it('register, create, get-job, submit-result, status', async () => {
    const registered = await curl('POST', '/api/workers/register', pool.joinToken, { workerId: 'worker-1', hostname: 'my-pc' });
    expect(registered.status).toBe(201);
    const workerToken = registered.json.token as string;
    const list = await curl('GET', '/api/workers/register', pool.adminToken);
    expect(list.json.workers.map((w: { name: string }) => w.name)).toEqual(['my-pc']);

    const created = await curl('POST', '/api/jobs/create', pool.adminToken, { command: 'echo Hello World', fileUrl: '/uploads/test.zip', filename: 'test.zip' });
    expect(created.status).toBe(201);
    const jobId = created.json.jobId as string;

    const got = await curl('GET', '/api/jobs/get-job', workerToken);
    expect(got.json.job.jobId).toBe(jobId);
    expect(got.json.job.command).toBe('echo Hello World');
    expect((await curl('GET', '/api/jobs/get-job', workerToken)).json.job).toBeNull();
    expect((await curl('POST', '/api/workers/heartbeat', workerToken, { workerId: 'x' })).status).toBe(200);

    const result = await curl('POST', '/api/jobs/submit-result', workerToken, { jobId, workerId: 'worker-1', stdout: 'Hello World\n', stderr: '', exitCode: 0 });
    expect(result.json.job.state).toBe('succeeded');
    const status = await curl('GET', `/api/jobs/status?jobId=${jobId}`, pool.adminToken);
    expect(status.json.job).toMatchObject({ status: 'succeeded', output: 'Hello World\n', exitCode: 0 });
    expect((await curl('POST', '/api/jobs/submit-result', workerToken, { jobId, stdout: 'again', exitCode: 0 })).status).toBe(409);

    const second = (await curl('POST', '/api/jobs/create', pool.adminToken, { command: 'false' })).json.jobId as string;
    await curl('GET', '/api/jobs/get-job', workerToken);
    const failed = await curl('PUT', '/api/jobs/submit-result', workerToken, { jobId: second, errorMessage: 'worker crashed' });
    expect(failed.json.job).toMatchObject({ state: 'failed', error: 'worker crashed' });
  });

  it('needs the token and clear input like v1', async () => {
    expect((await curl('POST', '/api/jobs/create', 'nope', { command: 'x' })).status).toBe(401);
    const missing = await curl('POST', '/api/jobs/create', pool.adminToken, { fileUrl: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toMatch(/command/);
    expect((await curl('GET', '/api/jobs/status', pool.adminToken)).status).toBe(400);
    expect((await curl('GET', '/api/jobs/status?jobId=job_nope', pool.adminToken)).status).toBe(404);
  });
});
