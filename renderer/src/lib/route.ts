// The view lives in the URL hash (`#/jobs/<id>`), so a reload, a bookmark or a link opens the same view.
// The coordinator's sign-in link carries the token in the hash too (`#token=...`): hashes never reach servers or logs.

export type Route =
  | { view: 'submit' }
  | { view: 'jobs' }
  | { view: 'job'; jobId: string }
  | { view: 'group'; groupId: string }
  | { view: 'workers' }
  | { view: 'worker'; workerId: string }
  | { view: 'audit' }
  | { view: 'settings' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  const job = /^\/jobs\/([^/?#]+)\/?$/.exec(path);
  if (job?.[1]) return { view: 'job', jobId: decodeURIComponent(job[1]) };
  if (/^\/jobs\/?$/.test(path)) return { view: 'jobs' };
  const group = /^\/groups\/([^/?#]+)\/?$/.exec(path);
  if (group?.[1]) return { view: 'group', groupId: decodeURIComponent(group[1]) };
  const worker = /^\/workers\/([^/?#]+)\/?$/.exec(path);
  if (worker?.[1]) return { view: 'worker', workerId: decodeURIComponent(worker[1]) };
  if (/^\/workers\/?$/.test(path)) return { view: 'workers' };
  if (/^\/audit\/?$/.test(path)) return { view: 'audit' };
  if (/^\/settings\/?$/.test(path)) return { view: 'settings' };
  return { view: 'submit' };
}

export function routeHash(route: Route): string {
  switch (route.view) {
    case 'job':
      return `#/jobs/${encodeURIComponent(route.jobId)}`;
    case 'jobs':
      return '#/jobs';
    case 'group':
      return `#/groups/${encodeURIComponent(route.groupId)}`;
    case 'workers':
      return '#/workers';
    case 'worker':
      return `#/workers/${encodeURIComponent(route.workerId)}`;
    case 'audit':
      return '#/audit';
    case 'settings':
      return '#/settings';
    default:
      return '#/';
  }
}

/**
 * Reads `token=` (or another `key=`) from a sign-in hash (`#code=abc` or `#/jobs/x?token=abc`) and returns the
 * hash without it.
 */
export function takeTokenFromHash(hash: string, key = 'token'): { token: string | null; hash: string } {
  const body = hash.replace(/^#/, '');
  const queryStart = body.indexOf('?');
  const [path, query] = body.startsWith(`${key}=`)
    ? ['', body]
    : queryStart >= 0
      ? [body.slice(0, queryStart), body.slice(queryStart + 1)]
      : [body, ''];
  const params = new URLSearchParams(query);
  const token = params.get(key);
  if (!token) return { token: null, hash };
  params.delete(key);
  const rest = params.toString();
  return { token, hash: `#${path || '/'}${rest ? `?${rest}` : ''}` };
}
