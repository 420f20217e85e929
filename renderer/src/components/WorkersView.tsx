import { useState } from 'react';
import { useAppStore } from '../app-store';
import { usePolling } from '../hooks';
import { formatAgo, isolationSummary, jobStateLabel, workerPresence, workerStateLabel } from '../lib/format';
import { routeHash } from '../lib/route';
import { InvitePanel, WorkerActions } from './InvitePanel';
import { PoolInfoPanel } from './PoolInfoPanel';
import { UsagePanel } from './UsagePanel';

export function WorkersView() {
  const refreshWorkers = useAppStore((s) => s.refreshWorkers);
  const workers = useAppStore((s) => s.workers);
  const error = useAppStore((s) => s.workersError);
  const refreshedAt = useAppStore((s) => s.workersRefreshedAt);
  const isAdmin = useAppStore((s) => s.caller?.role === 'admin');
  usePolling(refreshWorkers);
  const [showAll, setShowAll] = useState(false);
  const now = refreshedAt ?? Date.now();
  const hidden = workers.filter((w) => workerPresence(w, now) === 'hidden').length;
  const listed = showAll ? workers : workers.filter((w) => workerPresence(w, now) !== 'hidden');

  return (
    <section className="list-view" aria-labelledby="workers-title">
      <div className="list-head">
        <h1 id="workers-title">Workers</h1>
        <span className="hint">{workers.filter((w) => w.state !== 'offline').length} online</span>
        {(hidden > 0 || showAll) && (
          <label className="filters">
            <input type="checkbox" checked={showAll} onChange={(event) => setShowAll(event.target.checked)} /> Show all (
            {hidden} offline for over a day)
          </label>
        )}
      </div>
      <PoolInfoPanel />
      <InvitePanel />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="table-wrap">
        <table aria-label="Workers">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">OS</th>
              <th scope="col">Labels</th>
              <th scope="col">Isolation</th>
              <th scope="col">State</th>
              <th scope="col">Current job</th>
              <th scope="col">Last seen</th>
              {isAdmin && <th scope="col">Admin</th>}
            </tr>
          </thead>
          <tbody>
            {listed.map((worker) => {
              const isolation = isolationSummary(worker.isolation);
              const href = routeHash({ view: 'worker', workerId: worker.id });
              return (
                <tr key={worker.id} data-worker={worker.name} className={workerPresence(worker, now) === 'shown' ? undefined : 'faded'}>
                  <td className="name-cell">
                    <a href={href}>{worker.name}</a>
                    {worker.problem && (
                      <span className="field-error" title={worker.problem}>
                        {' '}
                        ⚠ {worker.problem}
                      </span>
                    )}
                  </td>
                  <td>
                    {worker.os}
                    {worker.arch ? ` ${worker.arch}` : ''}
                    {worker.cpus ? `, ${worker.cpus} CPUs` : ''}
                    {worker.version && <span className="hint"> · {worker.version}</span>}
                    {worker.outdated && (
                      <>
                        {' '}
                        <span className="badge outdated" title={worker.outdated} data-testid="worker-outdated">
                          Outdated
                        </span>
                      </>
                    )}
                  </td>
                  <td>
                    <div className="labels">
                      {worker.labels.map((label) => (
                        <span key={label} className="label">
                          {label}
                        </span>
                      ))}
                    </div>
                  </td>
                  <td>
                    <span
                      className={isolation.sandboxed ? 'isolation' : 'isolation unsandboxed'}
                      title={isolation.limits}
                      data-testid="worker-isolation"
                    >
                      {isolation.label}
                    </span>
                  </td>
                  <td>
                    <span className={`badge worker-${worker.state}`} data-testid="worker-state">
                      {workerStateLabel(worker.state)}
                    </span>
                  </td>
                  <td>
                    {worker.currentJobs.length === 0
                      ? '–'
                      : worker.currentJobs.map((job) => (
                          <a key={job.id} href={routeHash({ view: 'job', jobId: job.id })} title={jobStateLabel(job.state)}>
                            {job.name}
                          </a>
                        ))}
                  </td>
                  <td title={worker.lastSeenAt}>{formatAgo(worker.lastSeenAt, now)}</td>
                  {isAdmin && (
                    <td>
                      <WorkerActions workerId={worker.id} name={worker.name} adminState={worker.adminState} />
                    </td>
                  )}
                </tr>
              );
            })}
            {listed.length === 0 && (
              <tr>
                <td colSpan={isAdmin ? 8 : 7} className="empty">
                  {workers.length === 0 ? 'No worker has joined yet.' : 'No worker has been online for a day.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <UsagePanel />
    </section>
  );
}
