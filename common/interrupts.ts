// Ctrl-C as a person gives it. One Ctrl-C often reaches a process twice: from the terminal, and again from npm,
// which forwards it to the script it runs (`npm start`, `npm run worker`). Taken as two, it would turn a clean
// stop into a forced one. Signals closer together than SAME_INTERRUPT_MS count once.

export const SAME_INTERRUPT_MS = 500;

/** Calls `handler` with the signal and how many interrupts the person has given so far (1, 2, …). */
export function onInterrupt(
  handler: (signal: NodeJS.Signals, count: number) => void,
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
  now: () => number = Date.now,
): () => void {
  let count = 0;
  let lastAt = 0;
  const listener = (signal: NodeJS.Signals) => {
    const at = now();
    if (count > 0 && at - lastAt < SAME_INTERRUPT_MS) return;
    lastAt = at;
    handler(signal, ++count);
  };
  for (const signal of signals) process.on(signal, listener);
  return () => {
    for (const signal of signals) process.off(signal, listener);
  };
}
