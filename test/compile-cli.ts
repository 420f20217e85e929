// Vitest global setup. Tests spawn the command lines as users run them (`node coordinator`, bin/*.js), which is
// the compiled bundle in dist/node/: a test of the CLI is also a test of the build. Each entry point compiles
// again when a source is newer than the bundle, so a stale build never runs; compiling once here, before any
// test file starts, spares the first spawned processes from doing it side by side.
import { compileNode, isFresh } from '../build/compile-node.js';

export default async function setup(): Promise<void> {
  if (!(await isFresh())) await compileNode();
}
