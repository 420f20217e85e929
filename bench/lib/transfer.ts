// Streams files over HTTP without holding them in memory: the same client code times the coordinator and the
// plain loopback baseline, so the two differ only in the server.
import { randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

/** A ZIP of incompressible data (stored, as real build inputs mostly are), `bytes` long give or take headers. */
export async function writeRandomZip(file: string, bytes: number): Promise<number> {
  const zip = new yazl.ZipFile();
  const perEntry = 32 * 1024 * 1024;
  for (let offset = 0, i = 0; offset < bytes; offset += perEntry, i++) {
    const size = Math.min(perEntry, bytes - offset);
    zip.addReadStream(randomStream(size), `data/part-${i}.bin`, { compress: false, size });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
  return (await stat(file)).size;
}

function randomStream(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(left, 1024 * 1024)));
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

export interface Timed<T> {
  ms: number;
  status: number;
  body: T;
}

/** Sends `prefix + file + suffix` as the body of one request; resolves with the parsed JSON answer. */
export function uploadFile(
  url: string,
  options: { file: string; size: number; headers: Record<string, string>; prefix?: Buffer; suffix?: Buffer },
): Promise<Timed<unknown>> {
  const prefix = options.prefix ?? Buffer.alloc(0);
  const suffix = options.suffix ?? Buffer.alloc(0);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...options.headers, 'content-length': String(prefix.length + options.size + suffix.length) },
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    req.write(prefix);
    const body = createReadStream(options.file, { highWaterMark: 1024 * 1024 });
    body.on('error', reject);
    body.on('end', () => req.end(suffix));
    body.pipe(req, { end: false });
  });
}

/** A multipart/form-data body around one file: the text fields first, then the file. */
export function multipartAround(fields: Record<string, string>, fileField: string, filename: string) {
  const boundary = `----cmdx-bench-${Date.now().toString(36)}`;
  const parts = Object.entries(fields).map(
    ([name, value]) => `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  parts.push(`--${boundary}\r\ncontent-disposition: form-data; name="${fileField}"; filename="${filename}"\r\ncontent-type: application/zip\r\n\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    prefix: Buffer.from(parts.join('')),
    suffix: Buffer.from(`\r\n--${boundary}--\r\n`),
  };
}

/** GETs `url` and counts the body's bytes without keeping them. */
export function download(url: string, headers: Record<string, string> = {}): Promise<Timed<number>> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, body: bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}
