import { describe, expect, it } from 'vitest';
import { DatabaseClock } from './database-clock';

/** A database whose clock is `dbOffset` ms ahead of the monotonic clock, answering after the given delays. */
function fakeDatabase(dbOffset: number, delays: { there: number; back: number }[]) {
  let mono = 1000;
  let call = 0;
  const read = async () => {
    const { there, back } = delays[call++ % delays.length]!;
    mono += there;
    const at = mono + dbOffset;
    mono += back;
    return at;
  };
  return { read, mono: () => mono, advance: (ms: number) => (mono += ms) };
}

describe('DatabaseClock', () => {
  it("runs the database's time on the monotonic clock, measured at the midpoint of the shortest round trip", async () => {
    // The first round trip is lopsided and long (a busy pool): its midpoint would be 90 ms off.
    const db = fakeDatabase(5_000_000, [{ there: 200, back: 20 }, { there: 5, back: 5 }, { there: 30, back: 30 }]);
    const clock = new DatabaseClock(db.read, db.mono);
    await clock.sync();
    expect(clock.now()).toBe(db.mono() + 5_000_000);
    db.advance(1234);
    expect(clock.now()).toBe(db.mono() + 5_000_000);
  });

  it('never turns back when a new measurement finds the offset a little smaller', async () => {
    let dbOffset = 10_000;
    let mono = 0;
    const clock = new DatabaseClock(async () => mono + dbOffset, () => mono);
    await clock.sync();
    mono = 500;
    const before = clock.now();
    dbOffset -= 50;
    await clock.sync();
    expect(clock.now()).toBe(before);
    mono = 600;
    expect(clock.now()).toBe(600 + 9_950);
  });

  it('refuses to tell the time before it was measured', () => {
    const clock = new DatabaseClock(async () => 0, () => 0);
    expect(() => clock.now()).toThrow(/not measured/);
  });
});
