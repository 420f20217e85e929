// Case 5's baseline: the plainest loopback HTTP copy this machine can do. POST /upload writes the body to a
// file; GET /download streams the file back. Prints `LISTENING <url>` once ready.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const { dir } = JSON.parse(process.argv[2]!) as { dir: string };
const file = join(dir, 'uploaded.bin');

const server = http.createServer((req, res) => {
  void (async () => {
    if (req.method === 'POST' && req.url === '/upload') {
      await pipeline(req, createWriteStream(file));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ bytes: (await stat(file)).size }));
    } else if (req.method === 'GET' && req.url === '/download') {
      res.setHeader('content-length', String((await stat(file)).size));
      await pipeline(createReadStream(file), res);
    } else {
      res.statusCode = 404;
      res.end();
    }
  })().catch((err: Error) => {
    res.statusCode = 500;
    res.end(err.message);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
