import { useEffect } from 'react';
import { useAppStore } from '../app-store';
import { usePolling } from '../hooks';
import { formatAgo, formatBytes, isolationSummary, workerStateLabel } from '../lib/format';
import { routeHash } from '../lib/route';
import { WorkerActions } from './InvitePanel';
import { FactList, JobRow, StateBadge } from './parts';

/** One worker: what it is, how full, how it contains jobs, what it ran lately, and (for admins) its controls. */
export function WorkerView({ workerId }: { workerId: string }) {
  const loadWorkerDetail = useAppStore((s) => s.loadWorkerDetail);
  const loaded = useAppStore((s) => s.workerDetail);
  const error = useAppStore((s) => s.workerDetailError);
  const detail = loaded?.worker.id === workerId ? loaded : null;
  usePolling(() => loadWorkerDetail(workerId));
  useEffect(() => () => useAppStore.getState().resetPool(), []);
  const now = Date.now();

  if (!detail) {
    return (
      <section className="list-view" aria-label="Worker">
        <h1>Worker {workerId}</h1>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </section>
    );
  }
  const { worker, recentJobs } = detail;
  const isolation = isolationSummary(worker.isolation);
  const busySlots = worker.currentJobs.length;
  const facts: [string, string][] = [
    ['State', `${workerStateLabel(worker.state)}${worker.adminState !== 'active' ? ` (${worker.adminState} by an admin)` : ''}`],
    ['Slots in use', `${busySlots} of ${worker.slots}`],
    ['Labels', worker.labels.join(', ') || 'none'],
    ['Isolation', `${isolation.label}${isolation.limits ? ` (${isolation.limits})` : ''}`],
    ['Network for jobs', worker.isolation?.network ? 'allowed' : 'not allowed'],
    [
      'System',
      [worker.os, worker.arch, worker.cpus ? `${worker.cpus} CPUs` : null, worker.memoryBytes ? formatBytes(worker.memoryBytes) : null]
        .filter(Boolean)
        .join(', '),
    ],
    ['Version', worker.version ?? 'unknown'],
    ['Last seen', `${formatAgo(worker.lastSeenAt, now)} (${new Date(worker.lastSeenAt).toLocaleString()})`],
    ['Joined', formatAgo(worker.registeredAt, now)],
  ];
  return (
    <section className="list-view" aria-labelledby="worker-title">
      <div className="list-head">
        <h1 id="worker-title">{worker.name}</h1>
        <span className={`badge worker-${worker.state}`} data-testid="worker-state">
          {workerStateLabel(worker.state)}
        </span>
        <a href={routeHash({ view: 'workers' })}>All workers</a>
      </div>
      {worker.problem && (
        <p className="error" role="alert" data-testid="worker-problem">
          Takes no job: {worker.problem}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <FactList label="Worker facts" facts={facts} />
      <WorkerActions workerId={worker.id} name={worker.name} adminState={worker.adminState} onDone={() => loadWorkerDetail(workerId)} />
      <h2>Recent jobs</h2>
      <div className="table-wrap">
        <table aria-label="Recent jobs">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Submitter</th>
              <th scope="col">Started</th>
              <th scope="col">This attempt</th>
            </tr>
          </thead>
          <tbody>
            {recentJobs.map((job) => (
              <JobRow key={`${job.id}-${job.attempt}`} jobId={job.id} label={job.name} title={job.name}>
                <td>
                  <StateBadge state={job.state} />
                </td>
                <td>{job.submittedBy}</td>
                <td title={job.leasedAt}>{formatAgo(job.leasedAt, now)}</td>
                <td>{job.outcome}</td>
              </JobRow>
            ))}
            {recentJobs.length === 0 && (
              <tr>
                <td colSpan={5} className="empty">
                  This worker has run no job yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
