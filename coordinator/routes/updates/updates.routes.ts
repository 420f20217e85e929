// The desktop update feed (electron-updater's generic provider): GET /updates/<file> with byte ranges, so an
// interrupted download resumes and electron-updater's differential download fetches only the blocks that changed.
// Members only (any token of the pool): the coordinator answers strangers on the LAN nothing but health and sign-in,
// and a 100 MB installer is not something anyone who finds the port should be able to pull in a loop.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import parseRange from 'range-parser';
import { HttpError, NotFoundError } from '../../errors';
import { allow } from '../../middleware/auth';
import type { AppContext, AppState } from '../../middleware/context';
import type { Services } from '../../services/container';

export function updateRoutes(services: Services): Router<AppState> {
  const router = new Router<AppState>({ prefix: '/updates' });

  router.get('/:file', allow('submit', 'worker', 'join'), async (ctx: AppContext) => {
    const name = ctx.params.file!;
    const file = await services.updates.file(name);
    if (!file) throw new NotFoundError(`no update file "${name}" is published here (an admin runs: node coordinator publish-update DIR)`);
    ctx.set('Accept-Ranges', 'bytes');
    ctx.set('Last-Modified', file.mtime.toUTCString());
    // The channel file changes with each release; the installers never change under their name.
    ctx.set('Cache-Control', name.endsWith('.yml') ? 'no-cache' : 'private, max-age=86400');
    const type = name.endsWith('.yml') ? 'text/yaml; charset=utf-8' : 'application/octet-stream';
    const header = ctx.get('range');
    const ranges = header ? parseRange(file.size, header, { combine: true }) : -2;
    if (ranges === -1) {
      throw new HttpError(416, 'range_not_satisfiable', `the range "${header}" lies outside the file (${file.size} bytes)`, {
        'Content-Range': `bytes */${file.size}`,
      });
    }
    if (ranges === -2 || ranges.type !== 'bytes') {
      ctx.type = type;
      ctx.length = file.size;
      ctx.body = createReadStream(file.path);
      return;
    }
    ctx.status = 206;
    if (ranges.length === 1) {
      const { start, end } = ranges[0]!;
      ctx.type = type;
      ctx.set('Content-Range', `bytes ${start}-${end}/${file.size}`);
      ctx.length = end - start + 1;
      ctx.body = createReadStream(file.path, { start, end });
      return;
    }
    // Several ranges at once (electron-updater's differential download asks so): one multipart/byteranges answer.
    const boundary = `cmdx-${randomBytes(12).toString('hex')}`;
    ctx.type = `multipart/byteranges; boundary=${boundary}`;
    ctx.body = Readable.from(
      (async function* () {
        for (const { start, end } of ranges) {
          yield Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${start}-${end}/${file.size}\r\n\r\n`);
          yield* createReadStream(file.path, { start, end });
        }
        yield Buffer.from(`\r\n--${boundary}--\r\n`);
      })(),
    );
  });

  return router;
}
