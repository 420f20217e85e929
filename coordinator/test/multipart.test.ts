// Every part of a multipart submit is accounted for: a `bundle` part is the job's ZIP whatever its Content-Type
// (Python `requests` sends none), a spec sent as a file is still the spec, and an unknown part is a 400.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { makeZip } from '../../test/zips';

interface RawPart {
  name: string;
  filename?: string;
  type?: string;
  data: string | Buffer;
}

/** A multipart body written by hand, so a part can go without a Content-Type as some clients send it. */
function multipart(parts: RawPart[]): { body: Buffer; type: string } {
  const boundary = `----cmdx${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    const headers = [`Content-Disposition: ${disposition}`, ...(part.type ? [`Content-Type: ${part.type}`] : [])];
    chunks.push(Buffer.from(`--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

describe('multipart submits', () => {
  let pool: TestCoordinator;
  beforeEach(async () => {
    pool = await startTestCoordinator();
  });
  afterEach(() => pool.stop());

  async function submit(parts: RawPart[]): Promise<{ status: number; body: { job?: { id: string; bundle: unknown }; error?: { message: string } } }> {
    const { body, type } = multipart(parts);
    const response = await fetch(`${pool.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pool.adminToken}`, 'content-type': type },
      body,
    });
    return { status: response.status, body: (await response.json()) as never };
  }

  it('a bundle part without a Content-Type is the job\'s ZIP, and the worker gets its files', async () => {
    const zip = await makeZip([{ name: 'input.txt', data: 'from the zip' }]);
    const answer = await submit([
      { name: 'spec', data: JSON.stringify({ commands: ['cat input.txt'] }) },
      { name: 'bundle', filename: 'bundle.zip', data: zip },
    ]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body.job!.bundle).toEqual({ sha256: createHash('sha256').update(zip).digest('hex'), size: zip.length });
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const claim = (await worker.client.claim(worker.id, 0))!;
    expect(Buffer.from(await (await worker.client.downloadBundle(claim)).arrayBuffer()).equals(zip)).toBe(true);
  });

  it('a bundle part without a file name or Content-Type is still the ZIP', async () => {
    const zip = await makeZip([{ name: 'a.txt', data: 'a' }]);
    const answer = await submit([{ name: 'spec', data: JSON.stringify({ commands: ['ls'] }) }, { name: 'bundle', data: zip }]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body.job!.bundle).toMatchObject({ size: zip.length });
  });

  it('a spec sent as a JSON file (curl -F spec=@spec.json) is the spec', async () => {
    const answer = await submit([{ name: 'spec', filename: 'spec.json', type: 'application/json', data: JSON.stringify({ commands: ['true'] }) }]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const job = await new ApiClient({ baseUrl: pool.url, token: pool.adminToken }).getJob(answer.body.job!.id);
    expect(job.spec.commands).toEqual(['true']);
  });

  it('an unknown part is a 400 naming it and the parts this request takes', async () => {
    const zip = await makeZip([{ name: 'a.txt', data: 'a' }]);
    const answer = await submit([
      { name: 'spec', data: JSON.stringify({ commands: ['ls'] }) },
      { name: 'bundel', filename: 'b.zip', type: 'application/zip', data: zip },
    ]);
    expect(answer.status).toBe(400);
    expect(answer.body.error!.message).toMatch(/unknown multipart part "bundel".*"bundle" \(file\)/);
  });
});
