// Reading a Prometheus text exposition in tests: a series is found by its name and some of its labels, whatever
// else it carries (every series of a coordinator also has its `instance`) and in whatever order.

/** The value of the first series `name{…}` carrying every label given; undefined if there is none. */
export function seriesValue(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  const line = exposition
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && wanted.every((pair) => l.slice(name.length, l.lastIndexOf('}') + 1).includes(pair)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
