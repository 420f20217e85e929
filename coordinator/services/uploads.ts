// An uploaded ZIP becomes a blob only after its central directory passed the safety checks.
import { inspectZip, ZipRejectedError, type ZipLimits } from '../../common/zip-inspect';
import { ValidationError } from '../errors';
import type { UploadedFile } from '../middleware/body';
import type { BlobStore } from './blobs';

export async function acceptZip(
  file: UploadedFile,
  blobs: BlobStore,
  what: string,
  limits?: ZipLimits,
): Promise<{ sha256: string; size: number }> {
  if (file.size === 0) throw new ValidationError(`the ${what} is empty; send a .zip file`, 'invalid_zip');
  if (!file.hash) throw new Error('upload was not hashed');
  try {
    await inspectZip(file.filepath, limits);
  } catch (err) {
    if (err instanceof ZipRejectedError) throw new ValidationError(`the ${what} is refused: ${err.message}`, 'invalid_zip');
    throw err;
  }
  await blobs.adopt(file.filepath, file.hash);
  return { sha256: file.hash, size: file.size };
}
