// Copies everything one store holds into another, empty one, through the store interface: how the embedded
// SQLite data moves into PostgreSQL (`node coordinator migrate`). Ids and insertion order are kept, so job
// URLs, event ids (SSE resume points) and audit cursors stay valid.
import type { Store, StoreOps } from './types';

const PAGE = 500;

export interface CopyCounts {
  jobs: number;
  events: number;
  workers: number;
  tokens: number;
  audit: number;
}

/** Refuses a target that holds anything: a copy merged into another pool's data would mix two pools. */
export async function copyStore(from: Store, to: Store & { continueSequences(tx: StoreOps): Promise<void> }): Promise<CopyCounts> {
  const [tokens, workers, jobs] = await Promise.all([to.listTokens(), to.listWorkers(), to.listJobs({ limit: 1 })]);
  if (tokens.length || workers.length || jobs.length) throw new Error('the target database is not empty: give an empty one');
  return to.transaction(async (tx) => {
    const counts: CopyCounts = { jobs: 0, events: 0, workers: 0, tokens: 0, audit: 0 };
    for (const token of await from.listTokens()) {
      await tx.insertToken(token);
      counts.tokens++;
    }
    for (const worker of await from.listWorkers()) {
      await tx.insertWorker(worker);
      counts.workers++;
    }
    for (let page = await from.listJobs({ limit: PAGE }); page.length; page = await from.listJobs({ limit: PAGE, beforeSeq: page.at(-1)!.seq })) {
      for (const job of page) {
        await tx.insertJob(job);
        counts.jobs++;
        for (const lease of await from.leasesOfJob(job.id)) await tx.insertLease(lease);
        for (let attempt = 0; attempt <= job.attempt; attempt++) {
          for (const command of await from.commandsOf(job.id, attempt)) await tx.upsertCommand(command);
        }
        for (let events = await from.eventsAfter(job.id, 0, PAGE); events.length; events = await from.eventsAfter(job.id, events.at(-1)!.id, PAGE)) {
          for (const event of events) await tx.insertEvent(event);
          counts.events += events.length;
        }
      }
    }
    for (let page = await from.listAudit({ limit: PAGE }); page.length; page = await from.listAudit({ limit: PAGE, beforeId: page.at(-1)!.id })) {
      for (const entry of page) await tx.insertAudit(entry);
      counts.audit += page.length;
    }
    // Fair share goes on from where it stood: the recorded usage (what active leases add comes with the leases).
    for (const usage of await from.poolUsage()) {
      if (usage.at > 0) await tx.putUsage({ submitter: usage.submitter, slotSeconds: usage.slotSeconds, at: usage.at });
    }
    await to.continueSequences(tx);
    return counts;
  });
}
