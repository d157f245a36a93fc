/**
 * Named texts (issue 22, item 3): moby-dick is a file the package ships (texts/moby-dick.txt, the same bytes
 * as the stdlib dataset that earlier eval folders recorded), found from the package's folder, so an installed
 * package has it; a missing one says what is wrong in terms that fit an installed package.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readText, resolveTextPath } from '../../src/model/texts.js';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const MOBY_SHA256 = 'fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240';

describe('named texts', () => {
  it("moby-dick is the package's texts/moby-dick.txt, byte for byte the text earlier folders recorded", async () => {
    expect(resolveTextPath('moby-dick')).toBe(path.join(root, 'texts', 'moby-dick.txt'));
    const { text } = await readText('moby-dick');
    expect(text.startsWith('CHAPTER 1. Loomings.')).toBe(true);
    expect(createHash('sha256').update(readFileSync(path.join(root, 'texts', 'moby-dick.txt'))).digest('hex')).toBe(MOBY_SHA256);
    expect(readFileSync(path.join(root, 'texts', 'README.md'), 'utf8')).toContain(MOBY_SHA256);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.files).toContain('texts');
  });

  it('a package without the file says so, without pointing at npm ci', () => {
    const broken = tempDir('ckv-broken-package-');
    writeFileSync(path.join(broken, 'package.json'), JSON.stringify({ name: 'clusterkv-lab' }));
    expect(() => resolveTextPath('moby-dick', broken)).toThrow(`text 'moby-dick' is a text shipped with clusterkv-lab, but ${path.join(broken, 'texts', 'moby-dick.txt')} is missing: the clusterkv-lab package is incomplete (reinstall it); or give a text file`);
    expect(() => resolveTextPath('moby-dick', broken)).not.toThrow(/npm ci/);
    expect(resolveTextPath('notes.txt', broken)).toBe('notes.txt');
  });
});
