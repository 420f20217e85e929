// Submits a job with its ZIP as multipart/form-data written by hand, so the file streams from disk (never
// whole in memory) and the caller can follow the bytes as they go.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { API_PREFIX, type JobSpec, type Submitted } from '../../../protocol/api';
import { submitHeaders, type ApiClient } from '../../../protocol/client';
import { resendable } from '../transport';

export type UploadProgress = (sentBytes: number, totalBytes: number) => void;

export async function submitWithBundle(
  client: ApiClient,
  spec: JobSpec,
  zipFile: string,
  options: { onProgress?: UploadProgress; signal?: AbortSignal } = {},
): Promise<Submitted> {
  const boundary = `----cmdx${randomBytes(16).toString('hex')}`;
  const head = Buffer.from(
    // A part with a Content-Type counts as a file to the coordinator's multipart parser: the spec has none.
    `--${boundary}\r\nContent-Disposition: form-data; name="spec"\r\n\r\n` +
      `${JSON.stringify(spec)}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="bundle"; filename="bundle.zip"\r\nContent-Type: application/zip\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const fileBytes = (await stat(zipFile)).size;
  const total = head.length + fileBytes + tail.length;
  const { onProgress } = options;

  // Each try reads the file from its start: a resend to another node (the failover transport) sends it whole.
  async function* body(): AsyncGenerator<Uint8Array> {
    let sent = head.length;
    yield head;
    for await (const chunk of createReadStream(zipFile, { highWaterMark: 256 * 1024 })) {
      sent += (chunk as Buffer).length;
      onProgress?.(sent, total);
      yield chunk as Buffer;
    }
    yield tail;
    onProgress?.(total, total);
  }

  const stream = () => {
    const chunks = body();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
  };
  // A streamed body must say so (`duplex`), which not every RequestInit typing knows yet.
  const init: RequestInit & { duplex: 'half' } = {
    method: 'POST',
    duplex: 'half',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(total), ...submitHeaders() },
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const response = await client.request(`${API_PREFIX}/jobs`, resendable(init, stream));
  return (await response.json()) as Submitted;
}
