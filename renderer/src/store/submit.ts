// The submit form: fields, the ZIP to upload (or the zipped folder), upload progress.
import type { Job, Submitted } from '../../../protocol/api';
import { uploadJob, type UploadProgress } from '../api';
import { buildJobSpec, emptyJobForm, formFromSpec, type CarriedSpec, type FieldErrors, type JobForm } from '../lib/job-form';
import { formatBytes } from '../lib/format';
import { EmptyFolderError, zipFolder, type FolderFile } from '../lib/zip-folder';
import type { SliceCreator } from './types';

export interface Bundle {
  blob: Blob;
  name: string;
  size: number;
  /** The folder it was zipped from, when the user gave a folder. */
  folder: string | null;
}

export interface SubmitSlice {
  form: JobForm;
  /** Spec fields without a control, kept from the job being re-run. */
  carried: CarriedSpec;
  bundle: Bundle | null;
  bundleError: string | null;
  zipping: boolean;
  fieldErrors: FieldErrors;
  submitError: string | null;
  submitting: boolean;
  upload: UploadProgress | null;
  setFormField<K extends keyof JobForm>(field: K, value: JobForm[K]): void;
  /** A file the user dropped or picked; anything but a ZIP is refused with a reason. */
  setBundleFile(file: Blob & { name: string }): Promise<void>;
  /** Reads a dropped/picked folder (the reading is the browser's part) and zips it as the bundle. */
  bundleFolder(readFiles: () => Promise<FolderFile[]>): Promise<void>;
  clearBundle(): void;
  /** Fills the form from an earlier job ("Re-run"); the ZIP stays if one is already chosen. */
  prefillFromJob(job: Job): void;
  /** Validates, uploads and returns the new job (or a matrix's group), or null with the errors in the slice. */
  submitJob(): Promise<Submitted | null>;
}

/** A local file header's signature: what every ZIP starts with, whatever its name says. */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06];

async function looksLikeZip(blob: Blob): Promise<boolean> {
  const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
  const starts = (magic: number[]) => magic.every((byte, i) => head[i] === byte);
  return starts(ZIP_MAGIC) || starts(EMPTY_ZIP_MAGIC);
}

export const createSubmitSlice: SliceCreator<SubmitSlice> = (set, get) => ({
  form: emptyJobForm,
  carried: {},
  bundle: null,
  bundleError: null,
  zipping: false,
  fieldErrors: {},
  submitError: null,
  submitting: false,
  upload: null,

  setFormField(field, value) {
    const { [field]: _cleared, ...fieldErrors } = get().fieldErrors;
    set({ form: { ...get().form, [field]: value }, fieldErrors });
  },

  async setBundleFile(file) {
    set({ bundle: null, bundleError: null });
    if (!(await looksLikeZip(file))) {
      set({ bundleError: `${file.name} is not a ZIP archive: drop a .zip file or a folder` });
      return;
    }
    set({ bundle: { blob: file, name: file.name, size: file.size, folder: null } });
  },

  async bundleFolder(readFiles) {
    set({ bundle: null, bundleError: null, zipping: true });
    try {
      const { name, zip } = zipFolder(await readFiles());
      const blob = new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' });
      set({ bundle: { blob, name, size: blob.size, folder: name.replace(/\.zip$/, '') } });
    } catch (err) {
      set({ bundleError: err instanceof EmptyFolderError ? err.message : `could not zip the folder: ${String(err)}` });
    } finally {
      set({ zipping: false });
    }
  },

  clearBundle() {
    set({ bundle: null, bundleError: null });
  },

  prefillFromJob(job) {
    const { form, carried } = formFromSpec(job.spec);
    const note = job.bundle && !get().bundle ? `the original job had a ZIP of ${formatBytes(job.bundle.size)}: add it again` : null;
    set({ form, carried, fieldErrors: {}, submitError: null, bundleError: note });
  },

  async submitJob() {
    const { client, form, carried, bundle, desktopStatus } = get();
    if (!client) return null;
    const built = buildJobSpec(form, desktopStatus?.agent.name ?? null, carried);
    if (!built.ok) {
      set({ fieldErrors: built.errors, submitError: 'fix the marked fields first' });
      return null;
    }
    set({ submitting: true, submitError: null, fieldErrors: {}, upload: bundle ? { loaded: 0, total: bundle.size } : null });
    try {
      const submitted = bundle
        ? await uploadJob(client, built.spec, bundle.blob, bundle.name, (upload) => set({ upload }))
        : await client.submit(built.spec);
      // A fresh form for the next job: nothing of this one (labels, bundle…) is silently carried over.
      set({ submitting: false, upload: null, form: emptyJobForm, carried: {}, bundle: null, bundleError: null });
      // A matrix is one notification when its group ends, not one per job.
      if (submitted.job) void get().notifyWhenDone(submitted.job.id);
      else void get().notifyWhenGroupDone(submitted.group.id);
      return submitted;
    } catch (err) {
      set({ submitting: false, upload: null, submitError: get().failureMessage(err) });
      return null;
    }
  },
});
