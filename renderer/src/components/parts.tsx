// Pieces the list and detail views share.
import type { ReactNode } from 'react';
import type { JobState } from '../../../protocol/api';
import { jobStateLabel } from '../lib/format';
import { routeHash } from '../lib/route';

/**
 * A row that opens a job wherever it is clicked; its first cell stays a real link for the keyboard and "open in
 * new tab". `after` follows the link in that cell; `children` are the other cells.
 */
export function JobRow({ jobId, label, title, after, children }: { jobId: string; label: string; title: string; after?: ReactNode; children: ReactNode }) {
  const href = routeHash({ view: 'job', jobId });
  return (
    <tr className="clickable" onClick={() => (window.location.hash = href)}>
      <td className="name-cell">
        <a href={href} title={title} onClick={(event) => event.stopPropagation()}>
          {label}
        </a>
        {after}
      </td>
      {children}
    </tr>
  );
}

export function StateBadge({ state }: { state: JobState }) {
  return <span className={`badge state-${state}`}>{jobStateLabel(state)}</span>;
}

/** Term and value pairs, laid out as the job page's spec. */
export function FactList({ label, facts }: { label: string; facts: [string, string][] }) {
  return (
    <section className="job-spec" aria-label={label}>
      <dl>
        {facts.map(([term, value]) => (
          <div key={term}>
            <dt>{term}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
