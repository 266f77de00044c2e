import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

describe('the Electron shell stays out of the engine', () => {
  it('no file in engine/, sdk/ or shared/ imports main/ or electron', async () => {
    const offenders: string[] = [];
    for (const dir of ['engine', 'sdk', 'shared']) {
      for (const file of await sources(dir)) {
        const text = await readFile(file, 'utf8');
        if (/from\s+['"](?:[./]+\/main\/[^'"]*|electron)['"]|import\(\s*['"](?:[./]+\/main\/|electron['"])/.test(text)) offenders.push(relative(root, file));
      }
    }
    expect(offenders).toEqual([]);
  });
});
