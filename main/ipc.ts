// Every IPC handler goes through handle(): it answers only the app's own renderer (by the sender frame's URL, so a
// page that somehow got into a window cannot call in), validates the argument with the channel's schema from
// protocol/ipc.ts, and replies `{error, result}` (preload rebuilds an Error from `error`): nothing thrown in main
// crosses the bridge as an opaque exception, and nothing unvalidated reaches a handler.
import type { z } from 'zod';
import {
  APP_ORIGIN,
  invokeChannels,
  type InvokeChannel,
  type InvokeResult,
  type IpcReply,
  type PushChannel,
  type PushChannels,
} from '../protocol/ipc';

/** The part of Electron's IpcMainInvokeEvent the wrapper reads. */
export interface InvokeEvent {
  senderFrame: { url: string } | null;
}

/** The part of Electron's ipcMain the wrapper uses. */
export interface IpcMainHandle {
  handle(channel: string, listener: (event: InvokeEvent, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface IpcLogger {
  warn(message: string): void;
  error(message: string): void;
}

export type ChannelHandler<C extends InvokeChannel> = (
  request: z.output<(typeof invokeChannels)[C]['request']>,
  event: InvokeEvent,
) => InvokeResult<C> | Promise<InvokeResult<C>>;

/** An error whose message is meant for the user as is (the handler's "no, because ..."). */
export class IpcUserError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'IpcUserError';
  }
}

const appOrigin = new URL(APP_ORIGIN);

/** True only for pages served by the app itself (app://cmdx/...). Compares scheme and host: a URL parser outside
 * Chromium reports a custom scheme's origin as "null". */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === appOrigin.protocol && parsed.host === appOrigin.host && parsed.username === '';
  } catch {
    return false;
  }
}

export class IpcRouter {
  private readonly channels = new Set<string>();

  constructor(
    private readonly ipcMain: IpcMainHandle,
    private readonly logger: IpcLogger,
    private readonly isTrustedUrl: (url: string) => boolean = isAppUrl,
  ) {}

  handle<C extends InvokeChannel>(channel: C, handler: ChannelHandler<C>): void {
    const schema = invokeChannels[channel].request;
    this.channels.add(channel);
    this.ipcMain.handle(channel, async (event: InvokeEvent, ...args: unknown[]): Promise<IpcReply<InvokeResult<C>>> => {
      const url = event.senderFrame?.url ?? '(no frame)';
      if (!this.isTrustedUrl(url)) {
        this.logger.warn(`ipc ${channel}: refused a call from ${url}`);
        return { error: { code: 'forbidden', message: `${channel} is only available to the app's own window` }, result: null };
      }
      const parsed = args.length === 1 ? schema.safeParse(args[0]) : null;
      if (!parsed?.success) {
        const why = parsed
          ? parsed.error.issues.map((i) => `${i.path.join('.') || 'argument'}: ${i.message}`).join('; ')
          : `expected one argument, got ${args.length}`;
        return { error: { code: 'invalid_argument', message: `${channel}: ${why}` }, result: null };
      }
      try {
        return { error: null, result: await handler(parsed.data as never, event) };
      } catch (err) {
        if (err instanceof IpcUserError) return { error: { code: err.code, message: err.message }, result: null };
        this.logger.error(`ipc ${channel} failed: ${(err as Error).stack ?? String(err)}`);
        return { error: { code: 'failed', message: (err as Error).message || `${channel} failed` }, result: null };
      }
    });
  }

  dispose(): void {
    for (const channel of this.channels) this.ipcMain.removeHandler(channel);
    this.channels.clear();
  }
}

/** main → renderer, typed by PushChannels. */
export function push<C extends PushChannel>(
  target: { send(channel: string, payload: unknown): void },
  channel: C,
  payload: PushChannels[C],
): void {
  target.send(channel, payload);
}
