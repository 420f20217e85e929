import { describe, expect, it } from 'vitest';
import type { Job } from '../../../protocol/api';
import { matchesSearch } from './job-search';

const job = {
  id: 'job_abc',
  name: 'nightly build',
  submittedBy: 'alice',
  workerName: 'desk-7',
  spec: { commands: ['make -j4', './test.sh'], labels: ['linux', 'gpu'] },
} as unknown as Job;

describe('matchesSearch', () => {
  it('finds a job by name, command, submitter, worker, label or id, every word counting', () => {
    for (const query of ['', 'NIGHTLY', 'test.sh', 'alice', 'desk-7', 'gpu', 'job_abc', 'alice gpu']) {
      expect(matchesSearch(job, query), query).toBe(true);
    }
    for (const query of ['bob', 'alice windows', 'release']) expect(matchesSearch(job, query), query).toBe(false);
  });
});
