import { useRef, useState, type DragEvent } from 'react';
import { useAppStore } from '../app-store';
import { readDroppedFolder, readPickedFolder } from '../lib/browser-files';
import { formatBytes } from '../lib/format';

/** Takes a ZIP, or a folder that is zipped here, by drop or by picking. */
export function DropZone() {
  const bundle = useAppStore((s) => s.bundle);
  const bundleError = useAppStore((s) => s.bundleError);
  const zipping = useAppStore((s) => s.zipping);
  const setBundleFile = useAppStore((s) => s.setBundleFile);
  const bundleFolder = useAppStore((s) => s.bundleFolder);
  const clearBundle = useAppStore((s) => s.clearBundle);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const item = event.dataTransfer.items[0];
    const entry = item?.webkitGetAsEntry();
    if (entry?.isDirectory) {
      void bundleFolder(() => readDroppedFolder(entry as FileSystemDirectoryEntry));
      return;
    }
    const file = event.dataTransfer.files[0];
    if (file) void setBundleFile(file);
  };

  return (
    <div
      className={dragging ? 'dropzone dragging' : 'dropzone'}
      role="group"
      aria-label="Bundle: drop a ZIP file or a folder here"
      onDragOver={(event) => {
        event.preventDefault();
        event.dataTransfer.dropEffect = 'copy';
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      {zipping ? (
        <p>Zipping the folder…</p>
      ) : bundle ? (
        <p className="bundle">
          <strong className="bundle-name">{bundle.name}</strong>
          <span className="bundle-size">{formatBytes(bundle.size)}</span>
          {bundle.folder && <span className="hint">zipped from the folder {bundle.folder}</span>}
          <button type="button" className="quiet" onClick={clearBundle}>
            Remove
          </button>
        </p>
      ) : (
        <p>Drop a ZIP or a folder here (optional: commands can run without files)</p>
      )}
      <div className="dropzone-buttons">
        <button type="button" onClick={() => fileInput.current?.click()}>
          Choose ZIP…
        </button>
        <button type="button" onClick={() => folderInput.current?.click()}>
          Choose folder…
        </button>
      </div>
      <input
        ref={fileInput}
        type="file"
        accept=".zip,application/zip"
        aria-label="ZIP file"
        hidden
        onChange={(event) => {
          const file = event.target.files?.[0];
          if (file) void setBundleFile(file);
          event.target.value = '';
        }}
      />
      <input
        ref={folderInput}
        type="file"
        aria-label="Folder"
        hidden
        // A folder picker; React's types do not know the attribute, every current browser and Electron do.
        {...{ webkitdirectory: '' }}
        onChange={(event) => {
          const files = event.target.files;
          if (files?.length) {
            const picked = Array.from(files);
            void bundleFolder(() => readPickedFolder(picked));
          }
          event.target.value = '';
        }}
      />
      {bundleError && (
        <p className="error" role="alert">
          {bundleError}
        </p>
      )}
    </div>
  );
}
