// POST /workers/:id/claim, served before Koa. 10,000 idle workers each hold a claim parked for up to 30 s: a Koa
// context stays alive until its response ends (Koa's own finish listener holds it), ~13 KiB of heap per parked
// claim; here one costs its socket, request and response and one closure. The steps are Koa's chain's, through the
// same functions (host check, bearer token, JSON body, validation, the error answer, the request metric), so
// answers and audit entries are the same; `test/parked-claims.test.ts` bounds the memory and checks the answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_PREFIX } from '../../../protocol/api';
import { SECURITY_HEADERS } from '../../../protocol/web-security';
import { readPrincipal, requireWorkerSelf, type Authenticators } from '../../middleware/auth';
import { readJsonBody } from '../../middleware/body';
import { discardRestOfBody, errorAnswer } from '../../middleware/errors';
import { untilClosed } from '../../middleware/long-poll';
import { requireKnownHost } from '../../middleware/security';
import { parseInput } from '../../middleware/validate';
import type { Services } from '../../services/container';
import { claimSchema } from './workers.schema';

const DEFAULT_CLAIM_WAIT_MS = 25_000;
/** The route as the request metrics name it (as Koa's router did). */
const ROUTE = `${API_PREFIX}/workers/:id/claim`;
const CLAIM_PATH = new RegExp(`^${API_PREFIX}/workers/([^/]+)/claim/?$`);

/** Drained: a worker leaves the pool (and its token stops working) once its last job has ended. */
export async function leaveDrained(services: Services, actor: string, ip: string, id: string): Promise<void> {
  await services.scheduler.deregister(id);
  await services.store.insertAudit({ at: services.now(), actor, role: 'worker', action: 'worker.drained', target: id, ip });
}

/** Every answer carries the browser security headers, as each of Koa's does; set only as it is written (a parked claim holds none). */
function writeEmpty(res: ServerResponse): void {
  res.writeHead(204, SECURITY_HEADERS).end();
}

function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res
    .writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) })
    .end(json);
}

/** The handler to try before Koa's: true when the request was a claim and is being answered here. */
export function claimHandler(services: Services, auth: Authenticators, allowedHosts: readonly string[]) {
  const { scheduler, store, now, logger, metrics } = services;

  async function serve(req: IncomingMessage, res: ServerResponse, path: string, id: string): Promise<void> {
    const end = metrics.httpDuration.startTimer({ method: 'POST' });
    let measured = false;
    /** The metric counts the part before a claim parks (as 202), as it did when Koa's chain ended there. */
    const measure = (status: number) => {
      if (!measured) end({ route: ROUTE, status: String(status) });
      measured = true;
    };
    const ip = req.socket.remoteAddress ?? '';
    let parked = false;
    try {
      requireKnownHost(req.headers.host, allowedHosts);
      const principal = await readPrincipal(auth, req.headers.authorization, { ip, path });
      const { waitMs, ...filter } = parseInput(claimSchema, await readJsonBody(req), 'body');
      requireWorkerSelf(principal, id);
      // An idle worker claims instead of heartbeating: a drained one leaves here (its next call is refused).
      const worker = await scheduler.requireWorker(id);
      if (worker.adminState === 'draining' && (await store.currentJobs(id)).length === 0) {
        await leaveDrained(services, principal!.name, ip, id);
        writeEmpty(res);
        measure(204);
        return;
      }
      const onPark = () => {
        parked = true;
        measure(202);
      };
      const assignment = await untilClosed(req, res, services.shutdown, (signal) =>
        scheduler.claim(worker, waitMs ?? DEFAULT_CLAIM_WAIT_MS, signal, filter, onPark),
      );
      if (!assignment) {
        if (!res.destroyed) writeEmpty(res);
        measure(204);
        return;
      }
      if (res.destroyed || res.writableEnded) {
        // Nobody is left to run it: back to the queue at once rather than after a lease's TTL.
        await scheduler.handBackUnanswered(assignment.lease.id);
        return;
      }
      const audit = () => store.insertAudit({ at: now(), actor: principal!.name, role: principal!.role, action: 'lease.claim', target: assignment.job.id, ip });
      // A parked claim's worker waited long enough: its answer goes first, the audit entry after.
      if (!parked) await audit();
      writeJson(res, 200, assignment);
      measure(200);
      if (parked) await audit();
    } catch (err) {
      const answer = errorAnswer(err, logger, { method: 'POST', path, req });
      measure(answer.status);
      if (res.headersSent || res.destroyed) return;
      writeJson(res, answer.status, answer.body, answer.headers);
      if (answer.refused && !req.complete) discardRestOfBody(req);
    }
  }

  return function handleClaim(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST') return false;
    const path = (req.url ?? '').split('?', 1)[0]!;
    const match = CLAIM_PATH.exec(path);
    if (!match) return false;
    let id = match[1]!;
    try {
      id = decodeURIComponent(id);
    } catch {
      // Kept as sent, as Koa's router keeps a parameter it cannot decode.
    }
    void serve(req, res, path, id);
    return true;
  };
}
