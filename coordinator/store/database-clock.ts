// The time every coordinator sharing a database agrees on: the database's clock, measured now and then and run
// on this process's monotonic clock in between, so reading it costs no query. A coordinator whose own wall clock
// is off (skewed, stepped) then stamps records and judges stored deadlines (a job's timeout, an invite's expiry)
// as every other coordinator does.

/** How often the offset is measured again: it then drifts no further than two clocks do in this time. */
export const DATABASE_CLOCK_RESYNC_MS = 30_000;
/** Round trips per measurement; the shortest is kept (its midpoint says the most exactly when the database read its clock). */
const SAMPLES = 3;

export class DatabaseClock {
  /** Database time minus monotonic time; NaN until first measured. */
  private offset = Number.NaN;
  /** The latest time handed out: a new measurement never turns the clock back. */
  private last = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Reads the database's clock (epoch ms) in one round trip. */
    private readonly read: () => Promise<number>,
    private readonly mono: () => number = () => performance.now(),
  ) {}

  /** Measures the offset: the database's time against the midpoint of the shortest of a few round trips. */
  async sync(): Promise<void> {
    let best: { roundTrip: number; offset: number } | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      const sent = this.mono();
      const at = await this.read();
      const back = this.mono();
      if (!best || back - sent < best.roundTrip) best = { roundTrip: back - sent, offset: at - (sent + back) / 2 };
    }
    this.offset = best!.offset;
  }

  /** Measures now, then every `everyMs`; a failed measurement keeps the last offset. */
  async start(everyMs = DATABASE_CLOCK_RESYNC_MS): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => void this.sync().catch(() => {}), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Epoch ms by the database's clock, never less than a time handed out before. */
  now(): number {
    if (Number.isNaN(this.offset)) throw new Error('the database clock was not measured yet');
    this.last = Math.max(this.last, Math.round(this.mono() + this.offset));
    return this.last;
  }
}
