import { JOB_STATES, type Job } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { usePolling } from '../hooks';
import { formatAgo, formatDuration, formatShares, jobStateLabel } from '../lib/format';
import { matchesSearch } from '../lib/job-search';
import { routeHash } from '../lib/route';
import type { StateFilter } from '../store/jobs';
import { JobRow, StateBadge } from './parts';

const FILTERS: { value: StateFilter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'active', label: 'Active' },
  { value: 'finished', label: 'Finished' },
  ...JOB_STATES.map((state) => ({ value: state, label: jobStateLabel(state) })),
];

export function JobsView() {
  const refreshJobs = useAppStore((s) => s.refreshJobs);
  usePolling(refreshJobs);
  return (
    <section className="list-view" aria-labelledby="jobs-title">
      <div className="list-head">
        <h1 id="jobs-title">Jobs</h1>
        <JobsFilterBar />
      </div>
      <PoolShareLine />
      <JobsTable />
    </section>
  );
}

/** Fair share: who has used the pool lately; the least-used person's jobs of equal priority go first. */
function PoolShareLine() {
  const shares = useAppStore((s) => s.poolShares);
  if (shares.length === 0) return null;
  return (
    <p className="pool-share" aria-label="Pool share" title="Run time lately, halving every half-life: among jobs of equal priority, the person who used the pool least goes first">
      Pool share: {formatShares(shares)}
    </p>
  );
}

function JobsFilterBar() {
  const filter = useAppStore((s) => s.jobsFilter);
  const setJobsFilter = useAppStore((s) => s.setJobsFilter);
  const search = useAppStore((s) => s.jobsSearch);
  const setJobsSearch = useAppStore((s) => s.setJobsSearch);
  return (
    <div className="filters">
      <input
        type="search"
        aria-label="Search jobs"
        placeholder="Search jobs…"
        title="Name, command, submitter, worker, label or id"
        value={search}
        onChange={(event) => setJobsSearch(event.target.value)}
      />
      <label>
        State{' '}
        <select value={filter.state} onChange={(event) => void setJobsFilter({ state: event.target.value as StateFilter })}>
          {FILTERS.map(({ value, label }) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={filter.mine} onChange={(event) => void setJobsFilter({ mine: event.target.checked })} />{' '}
        Only mine
      </label>
    </div>
  );
}

function jobDuration(job: Job, now: number): string {
  if (!job.startedAt) return '–';
  return formatDuration(Date.parse(job.finishedAt ?? new Date(now).toISOString()) - Date.parse(job.startedAt));
}

function JobsTable() {
  const allJobs = useAppStore((s) => s.jobs);
  const search = useAppStore((s) => s.jobsSearch);
  const cursor = useAppStore((s) => s.jobsCursor);
  const loading = useAppStore((s) => s.jobsLoading);
  const error = useAppStore((s) => s.jobsError);
  const refreshedAt = useAppStore((s) => s.jobsRefreshedAt);
  const loadMoreJobs = useAppStore((s) => s.loadMoreJobs);
  const filter = useAppStore((s) => s.jobsFilter);
  const now = refreshedAt ?? Date.now();
  const jobs = allJobs.filter((job) => matchesSearch(job, search));
  const unfiltered = filter.state === 'all' && !filter.mine && !search.trim();
  return (
    <div className="table-wrap">
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table aria-label="Jobs">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Submitter</th>
            <th scope="col" className="wide-only">
              Labels
            </th>
            <th scope="col">Worker</th>
            <th scope="col">Submitted</th>
            <th scope="col">Duration</th>
            <th scope="col">Exit</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <JobRow
              key={job.id}
              jobId={job.id}
              label={job.name}
              title={job.name}
              after={
                job.groupId && (
                  <a
                    className="label group-link"
                    href={routeHash({ view: 'group', groupId: job.groupId })}
                    title="One job of a matrix: open the group"
                    onClick={(event) => event.stopPropagation()}
                  >
                    matrix
                  </a>
                )
              }
            >
              <td>
                <StateBadge state={job.state} />
              </td>
              <td>{job.submittedBy}</td>
              <td className="wide-only">
                <span className="labels">
                  {job.spec.labels.map((label) => (
                    <span key={label} className="label">
                      {label}
                    </span>
                  ))}
                </span>
              </td>
              <td>{job.workerName ?? '–'}</td>
              <td title={job.createdAt}>{formatAgo(job.createdAt, now)}</td>
              <td>{jobDuration(job, now)}</td>
              <td>{job.exitCode ?? '–'}</td>
            </JobRow>
          ))}
          {jobs.length === 0 && !loading && (
            <tr>
              <td colSpan={8} className="empty">
                {unfiltered ? (
                  <>
                    No jobs yet. <a href={routeHash({ view: 'submit' })}>Submit the first one</a>: a ZIP or a folder and the commands to run.
                  </>
                ) : (
                  'No job matches this filter.'
                )}
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {cursor && (
        <button type="button" onClick={() => void loadMoreJobs()} disabled={loading}>
          Load more
        </button>
      )}
    </div>
  );
}
