import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { EmptyFolderError, zipFolder } from './zip-folder';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

describe('zipFolder', () => {
  it('zips a dropped folder with paths inside the folder, named after it', () => {
    const { name, zip } = zipFolder([
      { path: '/project/build.sh', data: bytes('echo build') },
      { path: '/project/src/main.c', data: bytes('int main(){}') },
    ]);
    expect(name).toBe('project.zip');
    const entries = unzipSync(zip);
    expect(Object.keys(entries).sort()).toEqual(['build.sh', 'src/main.c']);
    expect(text(entries['src/main.c'])).toBe('int main(){}');
  });

  it('treats picked folders (webkitRelativePath, no leading slash) the same way', () => {
    const { name, zip } = zipFolder([{ path: 'site/index.html', data: bytes('<p>hi</p>') }]);
    expect(name).toBe('site.zip');
    expect(text(unzipSync(zip)['index.html'])).toBe('<p>hi</p>');
  });

  it('keeps full paths when the files share no folder', () => {
    const { name, zip } = zipFolder([
      { path: 'a.txt', data: bytes('a') },
      { path: 'b/c.txt', data: bytes('c') },
    ]);
    expect(name).toBe('folder.zip');
    expect(Object.keys(unzipSync(zip)).sort()).toEqual(['a.txt', 'b/c.txt']);
  });

  it('refuses an empty folder with a reason', () => {
    expect(() => zipFolder([])).toThrow(EmptyFolderError);
  });
});
