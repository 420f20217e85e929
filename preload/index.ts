// The bridge: `window.cmdx`, one method per IPC channel of protocol/ipc.ts and nothing else (no generic
// ipcRenderer pass-through, no Node). Runs sandboxed; imports only types from protocol/ so the bundle stays tiny.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type {
  CmdxApi,
  InvokeChannel,
  InvokeRequest,
  InvokeResult,
  IpcReply,
  PushChannel,
  PushChannels,
} from '../protocol/ipc';

/** Calls main and turns its `{error}` reply back into a thrown Error (contextBridge keeps only the message). */
async function invoke<C extends InvokeChannel>(channel: C, request: InvokeRequest<C>): Promise<InvokeResult<C>> {
  const reply = (await ipcRenderer.invoke(channel, request)) as IpcReply<InvokeResult<C>>;
  if (reply.error) throw new Error(reply.error.message);
  return reply.result as InvokeResult<C>;
}

function subscribe<C extends PushChannel>(channel: C, listener: (payload: PushChannels[C]) => void): () => void {
  // The renderer never sees the IPC event (it carries `sender`, a way back into ipcRenderer).
  const forward = (_event: IpcRendererEvent, payload: PushChannels[C]) => listener(payload);
  ipcRenderer.on(channel, forward);
  return () => {
    ipcRenderer.removeListener(channel, forward);
  };
}

const api: CmdxApi = {
  getSettings: () => invoke('settings:get', {}),
  updateSettings: (patch) => invoke('settings:set', patch),
  getStatus: () => invoke('status:get', {}),
  setContribution: (enabled) => invoke('contribution:set', { enabled }),
  pauseContribution: (minutes) => invoke('contribution:pause', { minutes }),
  pickFile: () => invoke('dialog:pick-file', {}),
  pickFolder: () => invoke('dialog:pick-folder', {}),
  openLogs: () => invoke('logs:open', {}),
  copyText: (text) => invoke('clipboard:write-text', { text }),
  discoverPools: () => invoke('pools:discover', {}),
  openInvite: (link) => invoke('invite:open', { link }),
  watchJob: (jobId) => invoke('jobs:watch', { jobId }),
  watchGroup: (groupId) => invoke('groups:watch', { groupId }),
  log: (level, message) => {
    void invoke('log:write', { level, message }).catch(() => undefined);
  },
  onStatus: (listener) => subscribe('status:changed', listener),
  onOpenJob: (listener) => subscribe('job:open', ({ jobId }) => listener(jobId)),
  onOpenGroup: (listener) => subscribe('group:open', ({ groupId }) => listener(groupId)),
  onSettings: (listener) => subscribe('settings:changed', listener),
};

contextBridge.exposeInMainWorld('cmdx', api);
