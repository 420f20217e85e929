// The jobs list. It is refreshed by polling (see usePolling): API v1 has no list-wide event stream, and one
// SSE connection per row would use up the browser's six connections per origin.
import type { Job, JobState, PoolShare } from '../../../protocol/api';
import type { SliceCreator } from './types';

export type StateFilter = 'all' | 'active' | 'finished' | JobState;

export interface JobsFilter {
  state: StateFilter;
  mine: boolean;
}

export const JOBS_PAGE_SIZE = 30;
/** The API's largest page: a refresh re-reads everything loaded so far in one call. */
const MAX_PAGE = 500;

export function statesOf(filter: StateFilter): JobState[] | undefined {
  switch (filter) {
    case 'all':
      return undefined;
    case 'active':
      return ['queued', 'leased', 'running', 'suspended'];
    case 'finished':
      return ['succeeded', 'failed', 'cancelled', 'timed_out'];
    default:
      return [filter];
  }
}

export interface JobsSlice {
  jobs: Job[];
  /** Cursor of the next older page; null when everything is loaded. */
  jobsCursor: string | null;
  jobsFilter: JobsFilter;
  jobsLoading: boolean;
  jobsError: string | null;
  /** When the list was last read (ms), so "ago" columns match the data. */
  jobsRefreshedAt: number | null;
  /** Each person's recent use of the pool (fair share), read with each refresh of the first page. */
  poolShares: PoolShare[];
  /** The search box: narrows the loaded jobs without asking the coordinator again. */
  jobsSearch: string;
  setJobsSearch(search: string): void;
  refreshJobs(): Promise<void>;
  loadMoreJobs(): Promise<void>;
  setJobsFilter(filter: Partial<JobsFilter>): Promise<void>;
}

export const createJobsSlice: SliceCreator<JobsSlice> = (set, get) => {
  // Answers to an older filter or an overtaken refresh are dropped, so the list never jumps back.
  let generation = 0;

  async function load(cursor: string | null, limit: number, append: boolean): Promise<void> {
    const client = get().client;
    if (!client) return;
    const request = ++generation;
    const { state, mine: onlyMine } = get().jobsFilter;
    set({ jobsLoading: true });
    try {
      const [page, poolShares] = await Promise.all([
        client.listJobs({
          state: statesOf(state),
          limit,
          mine: onlyMine,
          ...(cursor ? { cursor } : {}),
        }),
        append ? get().poolShares : client.poolShares(),
      ]);
      if (request !== generation) return;
      set({
        poolShares,
        jobs: append ? [...get().jobs, ...page.jobs] : page.jobs,
        jobsCursor: page.nextCursor,
        jobsLoading: false,
        jobsError: null,
        jobsRefreshedAt: Date.now(),
      });
    } catch (err) {
      if (request !== generation) return;
      set({ jobsLoading: false, jobsError: get().failureMessage(err) });
    }
  }

  return {
    jobs: [],
    jobsCursor: null,
    jobsFilter: { state: 'all', mine: false },
    jobsLoading: false,
    jobsError: null,
    jobsRefreshedAt: null,
    poolShares: [],
    jobsSearch: '',

    setJobsSearch(search) {
      set({ jobsSearch: search });
    },

    refreshJobs() {
      return load(null, Math.min(MAX_PAGE, Math.max(JOBS_PAGE_SIZE, get().jobs.length)), false);
    },

    loadMoreJobs() {
      const cursor = get().jobsCursor;
      return cursor ? load(cursor, JOBS_PAGE_SIZE, true) : Promise.resolve();
    },

    setJobsFilter(filter) {
      set({ jobsFilter: { ...get().jobsFilter, ...filter }, jobs: [], jobsCursor: null });
      return load(null, JOBS_PAGE_SIZE, false);
    },
  };
};
