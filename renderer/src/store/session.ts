// Who we are to the coordinator. In the browser the token is asked for once and kept in localStorage (or
// taken from the coordinator's sign-in link); the desktop window needs none: its main process adds this
// PC's token to API calls (protocol/ipc.ts).
import type { Caller } from '../../../protocol/api';
import { ApiError, createClient, errorMessage, type ApiClient } from '../api';
import type { SliceCreator, StoreDeps } from './types';

export const TOKEN_KEY = 'cmdx.token';

export type SignInState = 'signed_out' | 'checking' | 'signed_in';

export interface SessionSlice {
  baseUrl: string;
  client: ApiClient | null;
  signInState: SignInState;
  signInError: string | null;
  isDesktop: boolean;
  /** Who the signed-in token is (name, role): the views offer only what it may do. Null until known. */
  caller: Caller | null;
  /** Asks the coordinator who this client's token is (again: the desktop window's pool or token may have changed). */
  loadCaller(): Promise<void>;
  /** Signs in with the link's token, else the stored one; the desktop window is signed in by its main process. */
  resumeSession(tokenFromLink: string | null): Promise<void>;
  /** Checks the token against the coordinator and keeps it when accepted. */
  signIn(token: string): Promise<boolean>;
  signOut(reason?: string): void;
  /** Turns a failed call into a message; a rejected token signs out, since every later call would fail the same way. */
  failureMessage(err: unknown): string;
}

export const createSessionSlice =
  (deps: StoreDeps): SliceCreator<SessionSlice> =>
  (set, get) => ({
    baseUrl: deps.defaultBaseUrl,
    client: null,
    signInState: 'signed_out',
    signInError: null,
    isDesktop: deps.desktop !== null,
    caller: null,

    async loadCaller() {
      const client = get().client;
      const caller = client ? await client.whoAmI().catch(() => null) : null;
      if (get().client === client) set({ caller });
    },

    async resumeSession(tokenFromLink) {
      if (deps.desktop) {
        set({ client: createClient(get().baseUrl, ''), signInState: 'signed_in' });
        await get().loadCaller();
        return;
      }
      const token = tokenFromLink ?? deps.storage.getItem(TOKEN_KEY);
      if (token) await get().signIn(token);
    },

    async signIn(token) {
      const trimmed = token.trim();
      if (!trimmed) {
        set({ signInError: 'enter the token the coordinator printed (or open its sign-in link)' });
        return false;
      }
      const client = createClient(get().baseUrl, trimmed);
      set({ signInState: 'checking', signInError: null });
      let caller: Caller;
      try {
        caller = await client.whoAmI();
        // A worker's or join token is a token, but not one a person works with here.
        if (caller.role !== 'submit' && caller.role !== 'admin') throw new ApiError(403, 'forbidden', `a ${caller.role} token`);
      } catch (err) {
        const rejected = err instanceof ApiError && (err.status === 401 || err.status === 403);
        if (rejected) deps.storage.removeItem(TOKEN_KEY);
        set({
          signInState: 'signed_out',
          client: null,
          signInError: rejected ? 'the coordinator did not accept this token' : errorMessage(err),
        });
        return false;
      }
      deps.storage.setItem(TOKEN_KEY, trimmed);
      set({ client, caller, signInState: 'signed_in', signInError: null });
      return true;
    },

    signOut(reason) {
      // Asked for by the person (no reason): the session ends on the coordinator too, not only in this page.
      if (!reason) void get().client?.signOut().catch(() => {});
      get().closeJob();
      get().resetPool();
      deps.storage.removeItem(TOKEN_KEY);
      set({
        client: null,
        caller: null,
        signInState: 'signed_out',
        signInError: reason ?? null,
        jobs: [],
        jobsCursor: null,
        workers: [],
      });
    },

    failureMessage(err) {
      if (err instanceof ApiError && err.status === 401 && !deps.desktop) {
        get().signOut('the coordinator no longer accepts this token: sign in again');
      }
      return errorMessage(err);
    },
  });
