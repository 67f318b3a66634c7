/**
 * Takes a function's code out of an uploaded zip without trusting anything the zip says about
 * itself.
 *
 * A user's zip holds `new_module.py` (with a top-level `def main(...)`) and optionally
 * `requirements.txt` at its root; every other entry is counted and ignored. Only those two files
 * are ever decompressed, and by us, not by adm-zip: their headers may lie about their size, so
 * what zlib produces is capped by what is left of the unpacked-size limit.
 *
 * adm-zip parses the archive, but its parse costs memory in proportion to what the headers claim
 * (about 8 KB per entry, plus one invented entry for every folder a path implies: one 128 KB zip
 * holding a single 32,000-folders-deep name took 2.4 GB and 15 s). So before handing it the buffer
 * we read the end-of-central-directory record and walk the central directory ourselves, refusing
 * archives whose entries plus implied folders are over the entry limit.
 *
 * ZIP64 archives are refused rather than handled: function code never needs more than 65,534
 * entries or 4 GiB, and refusing keeps one more format out of the attack surface.
 */

import { constants as bufferConstants } from 'node:buffer';
import zlib from 'node:zlib';
import AdmZip from 'adm-zip';
import type { FunctionCode } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';

export interface ArchiveLimits {
  /** Max entries in the archive (central directory count, folders implied by paths included). */
  maxEntries: number;
  /** Max total uncompressed bytes, by the headers AND by what is actually inflated. */
  maxUncompressedBytes: number;
}

export interface InspectedArchive extends FunctionCode {
  /** Entries other than the root `new_module.py` and `requirements.txt` (folders included). */
  ignoredEntries: number;
  /** The first IGNORED_NAMES_SHOWN of them, in archive order. */
  ignoredNames: string[];
}

const MODULE = 'new_module.py';
const REQUIREMENTS = 'requirements.txt';
const IGNORED_NAMES_SHOWN = 20;
/** Longest entry name accepted, in bytes: Linux's PATH_MAX is 4096, macOS's 1024. */
const MAX_NAME_BYTES = 1024;

// Zip format constants (APPNOTE.TXT 4.3).
const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
const MAX_COMMENT_BYTES = 0xffff;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_BYTES = 46;
const ZIP64_MARK_16 = 0xffff;
const ZIP64_MARK_32 = 0xffffffff;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

const METHOD_NAMES: Readonly<Record<number, string>> = { 9: 'deflate64', 12: 'bzip2', 14: 'LZMA', 93: 'zstd', 95: 'xz', 98: 'PPMd', 99: 'AES' };

/** Reads the code out of `zip`, or throws a PrataiError (`Zip*` codes) naming what is wrong. */
export function inspectArchive(zip: Buffer, limits: ArchiveLimits): InspectedArchive {
  assertLimits(limits);
  const directory = readEndOfCentralDirectory(zip, limits.maxEntries);
  checkCentralDirectory(zip, directory, limits.maxEntries);
  const entries = parseEntries(zip, directory.entries);

  let declaredBytes = 0;
  let moduleEntry: AdmZip.IZipEntry | undefined;
  let requirementsEntry: AdmZip.IZipEntry | undefined;
  let misplacedModule: string | undefined;
  const ignoredNames: string[] = [];
  let ignoredEntries = 0;
  for (const entry of entries) {
    const name = entry.entryName;
    checkEntrySafe(entry, name);
    declaredBytes += entry.header.size;
    const parts = name.split(/[/\\]/).filter((part) => part !== '' && part !== '.');
    const rootName = !entry.isDirectory && parts.length === 1 ? parts[0] : undefined;
    if (rootName === MODULE) {
      if (moduleEntry) throw twice(MODULE, moduleEntry.entryName, name);
      moduleEntry = entry;
    } else if (rootName === REQUIREMENTS) {
      if (requirementsEntry) throw twice(REQUIREMENTS, requirementsEntry.entryName, name);
      requirementsEntry = entry;
    } else {
      if (!entry.isDirectory && parts.at(-1) === MODULE) misplacedModule ??= name;
      ignoredEntries += 1;
      if (ignoredNames.length < IGNORED_NAMES_SHOWN) ignoredNames.push(name);
    }
  }

  if (declaredBytes > limits.maxUncompressedBytes) {
    throw new PrataiError(
      'ZipTooLarge',
      `Expected the archive to unpack to at most ${bytes(limits.maxUncompressedBytes)}, its entries declare ${bytes(declaredBytes)}`,
      { details: { limit: limits.maxUncompressedBytes, declared: declaredBytes } },
    );
  }
  if (!moduleEntry) {
    const found = misplacedModule === undefined ? 'found none' : `found ${show(misplacedModule)}; it must be at the root of the archive, not in a folder`;
    throw new PrataiError('ZipMissingModule', `Expected \`${MODULE}\` at the root of the archive, ${found}`);
  }

  const budget = { remaining: limits.maxUncompressedBytes };
  const module = decodeText(inflateEntry(moduleEntry, budget), moduleEntry.entryName, 'ZipInvalid');
  checkMain(module);
  let requirements = '';
  if (requirementsEntry) {
    requirements = decodeText(inflateEntry(requirementsEntry, budget), requirementsEntry.entryName, 'ZipBadRequirements');
    checkRequirements(requirements);
  }
  return { module, requirements, ignoredEntries, ignoredNames };
}

function assertLimits(limits: ArchiveLimits): void {
  // A NaN or missing limit would make every `>` comparison below false: fail closed instead.
  for (const [name, value] of [['maxEntries', limits.maxEntries], ['maxUncompressedBytes', limits.maxUncompressedBytes]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`Expected ArchiveLimits.${name} to be a non-negative integer, got ${String(value)}`);
  }
}

interface CentralDirectory {
  entries: number;
  offset: number;
}

/** Finds the end-of-central-directory record the way adm-zip does, and refuses what adm-zip would read differently. */
function readEndOfCentralDirectory(zip: Buffer, maxEntries: number): CentralDirectory {
  const lowest = Math.max(0, zip.length - EOCD_BYTES - MAX_COMMENT_BYTES);
  let at = zip.length - EOCD_BYTES;
  while (at >= lowest && zip.readUInt32LE(at) !== EOCD_SIGNATURE) at -= 1;
  if (at < lowest) {
    throw new PrataiError('ZipInvalid', `Expected a zip archive, got ${bytes(zip.length)} with no end-of-central-directory record: not a zip archive`);
  }
  // adm-zip keeps scanning the 20 bytes before the record: another record there replaces this one,
  // and a ZIP64 locator makes it read the ZIP64 record. Either way it would see other counts than we check.
  for (let before = Math.max(0, at - ZIP64_LOCATOR_BYTES); before < at; before += 1) {
    const signature = zip.readUInt32LE(before);
    if (signature === ZIP64_LOCATOR_SIGNATURE) throw zip64('the archive has a ZIP64 end-of-central-directory locator');
    if (signature === EOCD_SIGNATURE) throw new PrataiError('ZipInvalid', 'Expected one end-of-central-directory record, got two overlapping ones');
  }
  const disk = zip.readUInt16LE(at + 4);
  const directoryDisk = zip.readUInt16LE(at + 6);
  const diskEntries = zip.readUInt16LE(at + 8);
  const entries = zip.readUInt16LE(at + 10);
  const offset = zip.readUInt32LE(at + 16);
  if (entries === ZIP64_MARK_16 || diskEntries === ZIP64_MARK_16 || offset === ZIP64_MARK_32 || zip.readUInt32LE(at + 12) === ZIP64_MARK_32) {
    throw zip64(`its end-of-central-directory record defers to a ZIP64 one (${entries} entries, offset ${offset})`);
  }
  if (disk !== 0 || directoryDisk !== 0 || diskEntries !== entries) {
    throw new PrataiError('ZipInvalid', `Expected a single-file zip archive, got one split across disks (disk ${disk}, ${diskEntries} of ${entries} entries on it)`);
  }
  if (entries > maxEntries) throw tooManyEntries(maxEntries, `${entries}`);
  return { entries, offset };
}

/**
 * Walks the central directory before adm-zip does, reading only name lengths and names: adm-zip
 * invents an entry for every folder a path implies, so those count toward the entry limit too.
 */
function checkCentralDirectory(zip: Buffer, directory: CentralDirectory, maxEntries: number): void {
  const names = new Set<string>();
  let at = directory.offset;
  for (let index = 0; index < directory.entries; index += 1) {
    if (at + CENTRAL_BYTES > zip.length || zip.readUInt32LE(at) !== CENTRAL_SIGNATURE) {
      throw new PrataiError('ZipInvalid', `Expected central directory entry ${index + 1} of ${directory.entries} at byte ${at}, got ${at + CENTRAL_BYTES > zip.length ? 'the end of the file' : 'other bytes'}: the central directory is damaged`);
    }
    const nameBytes = zip.readUInt16LE(at + 28);
    const end = at + CENTRAL_BYTES + nameBytes + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    if (end > zip.length) throw new PrataiError('ZipInvalid', `Expected central directory entry ${index + 1} to end within the file, it runs past it: the archive is damaged`);
    // Same decoding as adm-zip's default decoder, so the names are the ones it will see.
    const name = zip.toString('utf8', at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameBytes);
    if (nameBytes > MAX_NAME_BYTES) {
      throw new PrataiError('ZipUnsafeEntry', `Expected entry names of at most ${MAX_NAME_BYTES} bytes, got ${show(name)} (${nameBytes} bytes)`, { details: { entry: name } });
    }
    if (zip.readUInt32LE(at + 20) === ZIP64_MARK_32 || zip.readUInt32LE(at + 24) === ZIP64_MARK_32 || zip.readUInt32LE(at + 42) === ZIP64_MARK_32) {
      throw zip64(`entry ${show(name)} keeps its sizes or offset in a ZIP64 extra field`);
    }
    names.add(name);
    at = end;
  }
  const implied = new Set<string>();
  for (const name of names) {
    // adm-zip's folders are every prefix of the name ending in `/`.
    for (let slash = name.indexOf('/'); slash !== -1; slash = name.indexOf('/', slash + 1)) {
      const folder = name.slice(0, slash + 1);
      if (names.has(folder)) continue;
      implied.add(folder);
      if (names.size + implied.size > maxEntries) {
        throw tooManyEntries(maxEntries, `at least ${names.size + implied.size} (${names.size} entries and the folders their paths imply)`);
      }
    }
  }
}

function parseEntries(zip: Buffer, expected: number): AdmZip.IZipEntry[] {
  let entries: AdmZip.IZipEntry[];
  try {
    const archive = new AdmZip(zip, { readEntries: false, noSort: true });
    // Our checks hold only if adm-zip reads the record we read; it reports that count before parsing the entries.
    const count = archive.getEntryCount();
    if (count !== expected) throw new Error(`it counts ${count} entries where the end-of-central-directory record says ${expected}`);
    entries = archive.getEntries();
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^ADM-ZIP: /, '') : String(error);
    throw new PrataiError('ZipInvalid', `Expected a readable zip archive, got one adm-zip cannot read: ${reason}`, { cause: error });
  }
  return entries;
}

function checkEntrySafe(entry: AdmZip.IZipEntry, name: string): void {
  const refuse = (problem: string): PrataiError =>
    new PrataiError('ZipUnsafeEntry', `Expected entries with relative paths inside the archive, got ${show(name)}, which ${problem}`, { details: { entry: name } });
  if (name.includes('\0')) throw refuse('has a NUL character in its name');
  if (/^[/\\]/.test(name) || /^[A-Za-z]:/.test(name)) throw refuse('is an absolute path');
  if (name.split(/[/\\]/).includes('..')) throw refuse('has a `..` component');
  if (((entry.header.attr >>> 16) & S_IFMT) === S_IFLNK) throw refuse('is a symbolic link');
}

/**
 * Decompresses one entry without trusting its header: zlib stops at what is left of the budget.
 * Returns a view of the archive's buffer for stored entries.
 */
function inflateEntry(entry: AdmZip.IZipEntry, budget: { remaining: number }): Buffer {
  const name = entry.entryName;
  const header = entry.header;
  if (header.encrypted) throw new PrataiError('ZipInvalid', `Expected ${show(name)} without a password, got an encrypted entry`);
  // Decoded text cannot be longer than V8's longest string.
  const allowed = Math.min(budget.remaining, bufferConstants.MAX_STRING_LENGTH);
  const tooLarge = (): PrataiError =>
    new PrataiError(
      'ZipTooLarge',
      `Expected ${show(name)} to unpack to at most ${bytes(allowed)} (what is left of the unpacked-size limit), it unpacks to more although its header declares ${bytes(header.size)}`,
      { details: { entry: name, limit: allowed, declared: header.size } },
    );
  let raw: Buffer;
  try {
    raw = entry.getCompressedData();
  } catch (error) {
    throw new PrataiError('ZipInvalid', `Expected the data of ${show(name)} inside the archive, got ${error instanceof Error ? error.message.replace(/^ADM-ZIP: /, '') : String(error)}`, { cause: error });
  }

  let data: Buffer;
  if (raw.length === 0) {
    data = raw;
  } else if (header.method === METHOD_STORED) {
    if (raw.length > allowed) throw tooLarge();
    data = raw;
  } else if (header.method === METHOD_DEFLATED) {
    try {
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.min(allowed + 1, bufferConstants.MAX_LENGTH) });
    } catch (error) {
      if (error instanceof RangeError) throw tooLarge();
      throw new PrataiError('ZipInvalid', `Expected ${show(name)} to hold deflated data, got data zlib cannot inflate: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (data.length > allowed) throw tooLarge();
  } else {
    const method = METHOD_NAMES[header.method] ?? 'unknown';
    throw new PrataiError('ZipInvalid', `Expected ${show(name)} to be stored or deflated (methods 0 and 8), got compression method ${header.method} (${method})`);
  }
  budget.remaining -= data.length;

  if (data.length !== header.size) {
    throw new PrataiError('ZipInvalid', `Expected ${show(name)} to unpack to the ${bytes(header.size)} its header declares, got ${bytes(data.length)}: the archive is damaged`);
  }
  const crc = crc32(data);
  if (crc !== header.crc) {
    throw new PrataiError('ZipInvalid', `Expected ${show(name)} to have the CRC-32 its header declares (${hex(header.crc)}), got ${hex(crc)}: the archive is damaged`);
  }
  return data;
}

function decodeText(data: Buffer, name: string, code: 'ZipInvalid' | 'ZipBadRequirements'): string {
  try {
    // fatal: refuse bytes that are not UTF-8 rather than replace them; a leading BOM is dropped.
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new PrataiError(code, `Expected ${show(name)} to be UTF-8 text, got bytes that are not valid UTF-8`, { cause: error });
  }
}

function checkMain(module: string): void {
  // Not a Python parser: a `def main(` at column 0 inside a triple-quoted string would pass, and
  // the runtime then reports the missing main as the request's failure.
  if (/^def[ \t]+main[ \t]*\(/m.test(module)) return;
  const lineOf = (index: number): number => module.slice(0, index).split('\n').length;
  const asyncMain = /^async[ \t]+def[ \t]+main[ \t]*\(/m.exec(module);
  if (asyncMain) {
    throw new PrataiError(
      'ZipMissingMain',
      `Expected \`${MODULE}\` to define main as a plain function (\`def main(payload):\`), got \`async def main\` on line ${lineOf(asyncMain.index)}; the runtime does not await coroutines`,
    );
  }
  const indented = /^[ \t]+def[ \t]+main[ \t]*\(/m.exec(module);
  const hint = indented ? `; found an indented \`def main(\` on line ${lineOf(indented.index)}, which is inside a class or block` : '';
  throw new PrataiError('ZipMissingMain', `Expected \`${MODULE}\` to define a top-level function \`def main(payload):\` starting at column 0, got none${hint}`);
}

// Python's str.splitlines() and str.isspace(), which pip uses to read requirements files: a
// separator JavaScript does not treat as one (\x1c, \x85) must not hide an option from us.
// eslint-disable-next-line no-control-regex -- \x1c-\x1e are line breaks to Python: the point of this pattern.
const PY_LINE_BREAK = /\r\n|[\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029]/;
const PY_SPACE = '[\\s\\x1c-\\x1f\\x85]';
const PY_SPACES = new RegExp(`${PY_SPACE}+`);
const PY_COMMENT = new RegExp(`(^|${PY_SPACE}+)#.*$`, 's');
const PY_COMMENT_LINE = new RegExp(`^${PY_SPACE}*#`);
const HASH_OPTION = /^--hash=[A-Za-z0-9]+:[0-9A-Fa-f]+$/;

/**
 * Refuses pip options: which index and links pip uses is the operator's choice (build.pip_*
 * settings), not the uploader's. `--hash=` after a requirement is allowed, as pip-compile writes it.
 * Lines are joined, and comments dropped, the way pip's req_file.py does, so the line numbers match pip's.
 */
function checkRequirements(text: string): void {
  for (const { line, content } of logicalLines(text.split(PY_LINE_BREAK))) {
    const tokens = content.replace(PY_COMMENT, '').split(PY_SPACES).filter((token) => token !== '');
    const first = tokens.findIndex((token) => token.startsWith('-'));
    if (first === -1) continue;
    // After a requirement, pip-compile's `--hash=` options are fine; anything else is refused.
    const refused = first === 0 ? tokens[0] : tokens.slice(first).find((token) => !HASH_OPTION.test(token));
    if (refused === undefined) continue;
    const shown = refused.startsWith('--') ? refused.replace(/=.*$/s, '') : refused.startsWith('-') ? refused.slice(0, 2) : refused;
    const got = refused.startsWith('-') ? `the pip option ${show(shown)}` : `${show(shown)} among pip options`;
    throw new PrataiError(
      'ZipBadRequirements',
      `Expected \`${REQUIREMENTS}\` to list packages only (\`name==version\`, optionally with \`--hash=\`), got ${got} on line ${line}; pip's index and options are set by the operator`,
      { details: { line, option: shown } },
    );
  }
}

/** pip's join_lines: a line ending in `\` continues on the next, unless it is a comment. */
function* logicalLines(lines: string[]): Generator<{ line: number; content: string }> {
  let pending: { line: number; content: string } | undefined;
  for (const [index, text] of lines.entries()) {
    if (text.endsWith('\\') && !PY_COMMENT_LINE.test(text)) {
      const part = text.replace(/^\\+|\\+$/g, '');
      pending = pending ? { line: pending.line, content: pending.content + part } : { line: index + 1, content: part };
      continue;
    }
    const part = PY_COMMENT_LINE.test(text) ? ` ${text}` : text;
    yield pending ? { line: pending.line, content: pending.content + part } : { line: index + 1, content: part };
    pending = undefined;
  }
  if (pending) yield pending;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as zip uses it (zlib.crc32 arrived only in Node 20.15). */
function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i += 1) crc = (CRC_TABLE[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function tooManyEntries(limit: number, got: string): PrataiError {
  return new PrataiError('ZipTooManyEntries', `Expected at most ${limit} entries in the archive, got ${got}`, { details: { limit } });
}

function zip64(why: string): PrataiError {
  return new PrataiError('ZipInvalid', `Expected a zip archive without ZIP64 extensions, got one where ${why}; ZIP64 is not accepted`);
}

function twice(file: string, first: string, second: string): PrataiError {
  return new PrataiError('ZipInvalid', `Expected one \`${file}\` at the root of the archive, got two: ${show(first)} and ${show(second)}`);
}

/** An entry name for a message: quoted, control characters escaped, long names cut. */
function show(name: string): string {
  const escaped = JSON.stringify(name).slice(1, -1);
  return `\`${escaped.length > 120 ? `${escaped.slice(0, 117)}...` : escaped}\``;
}

function bytes(count: number): string {
  return count >= 1024 * 1024 ? `${count} bytes (${(count / 1024 / 1024).toFixed(1)} MiB)` : `${count} bytes`;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * The text files of an archive that `accept` takes (by their path inside it, `/`-separated), with
 * the same checks as a function's zip: a workflow's code is a zip of `.py` files in any folder.
 */
export function readArchiveFiles(zip: Buffer, limits: ArchiveLimits, accept: (path: string) => boolean): Map<string, string> {
  assertLimits(limits);
  const directory = readEndOfCentralDirectory(zip, limits.maxEntries);
  checkCentralDirectory(zip, directory, limits.maxEntries);
  const files = new Map<string, string>();
  const budget = { remaining: limits.maxUncompressedBytes };
  for (const entry of parseEntries(zip, directory.entries)) {
    checkEntrySafe(entry, entry.entryName);
    if (entry.isDirectory) continue;
    const path = entry.entryName.split(/[/\\]/).filter((part) => part !== '' && part !== '.').join('/');
    if (!accept(path)) continue;
    if (files.has(path)) throw twice(path, path, entry.entryName);
    files.set(path, decodeText(inflateEntry(entry, budget), entry.entryName, 'ZipInvalid'));
  }
  return files;
}
