// The Jobs list's search box: every word must appear in the job's name, a command, its submitter, its worker,
// a label or its id (case-insensitive), like the filter boxes of CI dashboards.
import type { Job } from '../../../protocol/api';

export function matchesSearch(job: Job, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [job.id, job.name, job.submittedBy, job.workerName ?? '', ...job.spec.commands, ...job.spec.labels]
    .join('\n')
    .toLowerCase();
  return words.every((word) => haystack.includes(word));
}
