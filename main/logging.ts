// One log file for the whole app (electron-log): lines of the main process, the embedded agent, a hosted coordinator
// and the renderer, each with its scope. The file rotates at 5 MB and keeps three old files beside it.
import { renameSync } from 'node:fs';
import path from 'node:path';
import log from 'electron-log/main';
import type { RuntimeLoggers } from './runtime';

const MAX_BYTES = 5 * 1024 * 1024;
const KEPT_FILES = 3;

type Scope = ReturnType<typeof log.scope>;

const withFields = (write: (...params: unknown[]) => void) => (message: string, fields?: object) =>
  fields === undefined ? write(message) : write(message, fields);

function adapt(scope: Scope) {
  return {
    debug: withFields(scope.debug),
    info: withFields(scope.info),
    warn: withFields(scope.warn),
    error: withFields(scope.error),
  };
}

export interface AppLogging {
  loggers: RuntimeLoggers;
  renderer: ReturnType<typeof adapt>;
  /** The folder "Open logs" shows. */
  logDir: string;
}

export function setupLogging(): AppLogging {
  log.transports.file.level = 'info';
  log.transports.file.maxSize = MAX_BYTES;
  log.transports.file.archiveLogFn = (file) => {
    // main.log -> main.1.log -> main.2.log -> main.3.log (dropped)
    const { dir, name, ext } = path.parse(file.path);
    const numbered = (n: number) => path.join(dir, `${name}.${n}${ext}`);
    for (let n = KEPT_FILES - 1; n >= 1; n--) {
      try {
        renameSync(numbered(n), numbered(n + 1));
      } catch {
        // that generation does not exist yet
      }
    }
    renameSync(file.path, numbered(1));
  };
  log.errorHandler.startCatching({ showDialog: false });
  const main = adapt(log.scope('main'));
  return {
    loggers: { main, agent: adapt(log.scope('agent')), coordinator: adapt(log.scope('coordinator')) },
    renderer: adapt(log.scope('renderer')),
    logDir: path.dirname(log.transports.file.getFile().path),
  };
}
