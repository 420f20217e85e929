// Prometheus metrics (prom-client), registries per coordinator so several can live in one process (tests).
// Coordinators sharing a database each export what they measure themselves, labelled with their `instance`; what
// the pool holds (jobs, queue, workers, data) is exported by one of them only, the sweeper, so that `sum()` over
// the nodes counts each job once.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES, WORKER_STATES } from '../../protocol/api';
import type { SchedulerMetrics } from './scheduler';
import type { Scheduler } from './scheduler';
import type { Store } from '../store/types';

export class Metrics implements SchedulerMetrics {
  /** What this node measures (claims it answered, its requests, its process): every node exports it. */
  private readonly node = new Registry();
  /** What the pool holds, the same read through any node: exported only by the sweeper. */
  private readonly pool = new Registry();
  private readonly claimLatency: Histogram;
  private readonly leaseExpiries: Counter;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly contentType = this.node.contentType;

  constructor(
    private readonly store: Store,
    scheduler: () => Scheduler,
    dataBytes: () => Promise<number>,
  ) {
    collectDefaultMetrics({ register: this.node, prefix: 'cmdx_process_' });
    this.claimLatency = new Histogram({
      name: 'cmdx_claim_latency_seconds',
      help: 'Time from a job becoming claimable (submitted or requeued) to a worker leasing it',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [this.node],
    });
    this.leaseExpiries = new Counter({
      name: 'cmdx_lease_expiries_total',
      help: 'Leases that expired because their worker stopped heartbeating',
      registers: [this.node],
    });
    this.httpDuration = new Histogram({
      name: 'cmdx_http_request_duration_seconds',
      help: 'HTTP request durations by route (long polls and event streams included)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [this.node],
    });
    new Gauge({
      name: 'cmdx_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers: [this.pool],
      async collect() {
        const counts = await store.countJobsByState();
        for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: 'cmdx_queue_depth',
      help: 'Jobs waiting for a worker',
      registers: [this.pool],
      async collect() {
        this.set((await store.countJobsByState()).queued ?? 0);
      },
    });
    new Gauge({
      name: 'cmdx_workers',
      help: 'Workers by state',
      labelNames: ['state'],
      registers: [this.pool],
      async collect() {
        const workers = await scheduler().availability();
        for (const state of WORKER_STATES) this.set({ state }, workers.filter((w) => w.state === state).length);
      },
    });
    new Gauge({
      name: 'cmdx_data_bytes',
      help: 'Bytes the data dir holds (store and blobs); kept in check by --retention',
      registers: [this.pool],
      async collect() {
        this.set(await dataBytes());
      },
    });
    new Gauge({
      name: 'cmdx_waiting_claims',
      help: 'Workers waiting in a long-poll claim',
      registers: [this.node],
      collect() {
        this.set(scheduler().waitingClaims);
      },
    });
  }

  /** Labels every series of this node: `instance="…"`. */
  setInstance(instance: string): void {
    for (const registry of [this.node, this.pool]) registry.setDefaultLabels({ instance });
  }

  /** The exposition text: this node's series, and the pool's when this node is the sweeper. */
  async scrape(): Promise<string> {
    const [node, pool] = await Promise.all([this.node.metrics(), this.store.isSweeper().then((sweeper) => (sweeper ? this.pool.metrics() : ''))]);
    return pool ? `${node}\n${pool}` : node;
  }

  observeClaimLatency(seconds: number): void {
    this.claimLatency.observe(seconds);
  }

  countLeaseExpiry(): void {
    this.leaseExpiries.inc();
  }
}
