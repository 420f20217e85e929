// The renderer's one way to the coordinator: ApiClient (protocol/client.ts) for every call, plus the two
// things fetch cannot do for us: upload progress (XHR) and saving an authenticated download as a file.
import { API_PREFIX, type ErrorBody, type JobSpec, type Submitted } from '../../protocol/api';
import { ApiClient, ApiError, submitHeaders } from '../../protocol/client';

export { ApiClient, ApiError };

export function createClient(baseUrl: string, token: string): ApiClient {
  return new ApiClient({ baseUrl, token });
}

/** What a failed call means to a person; never a stack. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'the coordinator did not accept this token';
    if (err.status === 0) return err.message;
    return `${err.message} (${err.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/**
 * POST /jobs as multipart with the bundle, through XMLHttpRequest because fetch reports no upload progress.
 * Resolves with the created job (or a matrix's group); rejects with an ApiError like ApiClient does.
 */
export function uploadJob(
  client: ApiClient,
  spec: JobSpec,
  bundle: Blob,
  filename: string,
  onProgress: (progress: UploadProgress) => void,
): Promise<Submitted> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', client.url(`${API_PREFIX}/jobs`));
    for (const [name, value] of Object.entries(client.headers(submitHeaders()))) xhr.setRequestHeader(name, value);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (event) => onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : bundle.size });
    xhr.onload = () => {
      const body = parseJson(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300 && body && typeof body === 'object' && ('job' in body || 'group' in body)) {
        resolve(body as Submitted);
        return;
      }
      const error = (body as Partial<ErrorBody> | null)?.error;
      reject(new ApiError(xhr.status, error?.code ?? `http_${xhr.status}`, error?.message ?? `upload failed with status ${xhr.status}`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'unreachable', `cannot reach ${client.baseUrl}`));
    const form = new FormData();
    form.append('spec', JSON.stringify(spec));
    form.append('bundle', bundle, filename);
    xhr.send(form);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Downloads an API path with the bearer token (a plain link cannot send it) and hands the bytes to the
 * browser's save dialog; the server's file name wins when it sends one.
 */
export async function saveDownload(client: ApiClient, path: string, fallbackName: string): Promise<void> {
  const response = await client.request(path);
  const blob = await response.blob();
  const disposition = response.headers.get('content-disposition') ?? '';
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser reads the blob URL after click() returns; revoking at once would cancel the download.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}
