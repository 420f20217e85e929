/** A clock the test moves by hand (pair it with `sweepIntervalMs: 0` and explicit `coordinator.sweep()`). */
export function manualClock(start = Date.UTC(2026, 10, 27, 8)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}
