import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { test } from 'node:test';
import AdmZip from 'adm-zip';
import { inspectArchive, type ArchiveLimits } from '../api/archive.js';
import { PrataiError, type ErrorCode } from '../common/errors.js';

const MiB = 1024 * 1024;
const LIMITS: ArchiveLimits = { maxEntries: 100, maxUncompressedBytes: 10 * MiB };
const MODULE = 'def main(payload):\n    return payload\n';
const ARCHIVE_MODULE = new URL('../api/archive.ts', import.meta.url).href;
const EOCD_SIGNATURE = Buffer.from([0x50, 0x4b, 0x05, 0x06]);

// ---- Building archives ----------------------------------------------------------------------

/** A zip built by adm-zip: `files` maps entry names to contents (a name ending in `/` is a folder). */
function zipOf(files: Record<string, string | Buffer>, options: { stored?: string[] } = {}): Buffer {
  // noSort: entries are written in the order given, so tests can speak of archive order.
  const zip = new AdmZip({ noSort: true });
  for (const [name, content] of Object.entries(files)) {
    const entry = zip.addFile(name, typeof content === 'string' ? Buffer.from(content) : content);
    if (options.stored?.includes(name)) entry.header.method = 0;
  }
  return zip.toBuffer();
}

interface RawEntry {
  name: string | Buffer;
  /** Unpacked content; deflated unless `method` is 0. */
  content?: string | Buffer;
  /** The exact bytes after the local header, when they are not `content` compressed. */
  raw?: Buffer;
  method?: number;
  /** Declared uncompressed size; the real one when left out. */
  size?: number;
  crc?: number;
  flags?: number;
  /** External attributes: the Unix mode sits in the top 16 bits. */
  attr?: number;
  /** Comment of the central directory record: the last bytes before the end record when on the last entry. */
  comment?: Buffer;
}

interface RawEnd {
  entries?: number;
  diskEntries?: number;
  disk?: number;
  offset?: number;
  /** Bytes written between the central directory and the end record. */
  before?: Buffer;
}

/** A zip written byte by byte, for what adm-zip refuses to write: lying headers, unsafe names, links. */
function rawZip(entries: RawEntry[], end: RawEnd = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = typeof entry.name === 'string' ? Buffer.from(entry.name) : entry.name;
    const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : (entry.content ?? Buffer.alloc(0));
    const method = entry.method ?? 8;
    const raw = entry.raw ?? (method === 8 ? zlib.deflateRawSync(content) : content);
    const size = entry.size ?? content.length;
    const crc = entry.crc ?? crc32(content);
    const flags = entry.flags ?? 0x800;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(raw.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, raw);
    const comment = entry.comment ?? Buffer.alloc(0);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(raw.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(comment.length, 32);
    central.writeUInt32LE(entry.attr ?? (0o100644 << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name, comment);
    offset += local.length + name.length + raw.length;
  }
  const directory = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  EOCD_SIGNATURE.copy(eocd, 0);
  eocd.writeUInt16LE(end.disk ?? 0, 4);
  eocd.writeUInt16LE(end.diskEntries ?? end.entries ?? entries.length, 8);
  eocd.writeUInt16LE(end.entries ?? entries.length, 10);
  eocd.writeUInt32LE(directory.length, 12);
  eocd.writeUInt32LE(end.offset ?? offset, 16);
  return Buffer.concat([...locals, directory, end.before ?? Buffer.alloc(0), eocd]);
}

/** Rewrites header fields of entry `name` in both its central and its local header, as a liar would. */
function patchEntry(zip: Buffer, name: string, fields: { size?: number; crc?: number; flags?: number; method?: number }): Buffer {
  const out = Buffer.from(zip);
  const eocd = out.lastIndexOf(EOCD_SIGNATURE);
  let at = out.readUInt32LE(eocd + 16);
  for (let index = 0; index < out.readUInt16LE(eocd + 10); index += 1) {
    const nameLength = out.readUInt16LE(at + 28);
    if (out.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      const local = out.readUInt32LE(at + 42);
      // [central offset, local offset, width] of each field.
      const places = { flags: [8, 6, 2], method: [10, 8, 2], crc: [16, 14, 4], size: [24, 22, 4] } as const;
      for (const [field, value] of Object.entries(fields) as [keyof typeof places, number][]) {
        const [central, inLocal, width] = places[field];
        out.writeUIntLE(value, at + central, width);
        out.writeUIntLE(value, local + inLocal, width);
      }
      return out;
    }
    at += 46 + nameLength + out.readUInt16LE(at + 30) + out.readUInt16LE(at + 32);
  }
  throw new Error(`patchEntry: no entry named ${name}`);
}

/** Rewrites fields of the end-of-central-directory record. */
function patchEnd(zip: Buffer, fields: { entries?: number; offset?: number; directoryBytes?: number }): Buffer {
  const out = Buffer.from(zip);
  const eocd = out.lastIndexOf(EOCD_SIGNATURE);
  if (fields.entries !== undefined) {
    out.writeUInt16LE(fields.entries, eocd + 8);
    out.writeUInt16LE(fields.entries, eocd + 10);
  }
  if (fields.directoryBytes !== undefined) out.writeUInt32LE(fields.directoryBytes, eocd + 12);
  if (fields.offset !== undefined) out.writeUInt32LE(fields.offset, eocd + 16);
  return out;
}

/**
 * A raw deflate stream of `total` zero bytes (a multiple of 16 MiB), about 1,000 times smaller:
 * full-flushed blocks stand alone, so one compressed 16 MiB block repeats, and a final empty block ends it.
 */
function deflatedZeros(total: number): Buffer {
  const block = 16 * MiB;
  assert.equal(total % block, 0);
  const chunk = zlib.deflateRawSync(Buffer.alloc(block), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array.from({ length: total / block }, () => chunk), zlib.deflateRawSync(Buffer.alloc(0))]);
}

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k += 1) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The PrataiError inspectArchive throws for `zip`; fails the test when it accepts the archive. */
function refusal(zip: Buffer, limits: ArchiveLimits = LIMITS): PrataiError {
  try {
    inspectArchive(zip, limits);
  } catch (error) {
    if (error instanceof PrataiError) return error;
    throw error;
  }
  assert.fail('expected inspectArchive to refuse the archive');
}

function assertRefused(zip: Buffer, code: ErrorCode, message: RegExp, limits: ArchiveLimits = LIMITS): PrataiError {
  const error = refusal(zip, limits);
  assert.equal(error.code, code, `got ${error.code}: ${error.message}`);
  assert.match(error.message, message);
  return error;
}

// ---- What a user gets back ------------------------------------------------------------------

test('a zip holding new_module.py and requirements.txt gives both texts back and ignores nothing', () => {
  const inspected = inspectArchive(zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'requests==2.31.0\n' }), LIMITS);
  assert.deepEqual(inspected, { module: MODULE, requirements: 'requests==2.31.0\n', ignoredEntries: 0, ignoredNames: [] });
});

test('a zip holding only new_module.py gives empty requirements', () => {
  const inspected = inspectArchive(zipOf({ 'new_module.py': MODULE }), LIMITS);
  assert.equal(inspected.module, MODULE);
  assert.equal(inspected.requirements, '');
});

test('other entries, folders and files in folders are counted, and the first 20 named in archive order', () => {
  const files: Record<string, string> = { 'new_module.py': MODULE, 'lib/': '', 'lib/requirements.txt': 'x', 'README.md': '# hi' };
  for (let i = 0; i < 22; i += 1) files[`data/${String(i).padStart(2, '0')}.json`] = '{}';
  const inspected = inspectArchive(zipOf(files), LIMITS);
  assert.equal(inspected.ignoredEntries, 25);
  assert.equal(inspected.ignoredNames.length, 20);
  assert.deepEqual(inspected.ignoredNames.slice(0, 4), ['lib/', 'lib/requirements.txt', 'README.md', 'data/00.json']);
  assert.equal(inspected.requirements, '', 'a requirements.txt in a folder is not the function requirements');
});

test('a UTF-8 byte order mark is stripped from new_module.py and requirements.txt', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const zip = zipOf({ 'new_module.py': Buffer.concat([bom, Buffer.from(MODULE)]), 'requirements.txt': Buffer.concat([bom, Buffer.from('six\n')]) });
  const inspected = inspectArchive(zip, LIMITS);
  assert.equal(inspected.module, MODULE);
  assert.equal(inspected.requirements, 'six\n');
});

test('stored and deflated entries both unpack', () => {
  const zip = zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'six\n' }, { stored: ['new_module.py'] });
  const methods = new AdmZip(zip).getEntries().map((entry) => [entry.entryName, entry.header.method]);
  assert.deepEqual(methods, [['new_module.py', 0], ['requirements.txt', 8]]);
  assert.deepEqual(inspectArchive(zip, LIMITS), { module: MODULE, requirements: 'six\n', ignoredEntries: 0, ignoredNames: [] });
});

test('a module named ./new_module.py is at the root', () => {
  const inspected = inspectArchive(rawZip([{ name: './new_module.py', content: MODULE }]), LIMITS);
  assert.equal(inspected.module, MODULE);
});

test('comments, blank lines, markers and pip-compile hashes on continuation lines are accepted in requirements.txt', () => {
  const requirements = [
    '# pinned by pip-compile',
    '',
    'requests==2.31.0 \\',
    '    --hash=sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f \\',
    '    --hash=sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1',
    'six>=1.16 ; python_version >= "3.8"  # for py3',
    'pkg-with-dashes==1.0',
  ].join('\n');
  assert.equal(inspectArchive(zipOf({ 'new_module.py': MODULE, 'requirements.txt': requirements }), LIMITS).requirements, requirements);
});

// ---- Not a zip, or not one we read ----------------------------------------------------------

test('bytes without an end-of-central-directory record are refused with ZipInvalid as not a zip archive', () => {
  assertRefused(Buffer.from('def main(payload):\n    return 1\n'), 'ZipInvalid', /not a zip archive/);
  assertRefused(Buffer.alloc(0), 'ZipInvalid', /not a zip archive/);
});

test('an archive adm-zip cannot parse is refused with ZipInvalid and adm-zip\'s reason', () => {
  const duplicate = rawZip([{ name: 'new_module.py', content: MODULE }, { name: 'new_module.py', content: 'print(1)\n' }]);
  assertRefused(duplicate, 'ZipInvalid', /adm-zip cannot read: Duplicate entry name "new_module.py"/);
});

test('a central directory that points past the file is refused with ZipInvalid', () => {
  const zip = zipOf({ 'new_module.py': MODULE });
  assertRefused(patchEnd(zip, { offset: zip.length - 10 }), 'ZipInvalid', /central directory entry 1 of 1 .* damaged/);
});

test('a ZIP64 archive is refused with ZipInvalid naming ZIP64', () => {
  const zip = zipOf({ 'new_module.py': MODULE });
  assertRefused(patchEnd(zip, { entries: 0xffff }), 'ZipInvalid', /ZIP64/);
  assertRefused(patchEnd(zip, { offset: 0xffffffff }), 'ZipInvalid', /ZIP64/);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  assertRefused(rawZip([{ name: 'new_module.py', content: MODULE }], { before: locator }), 'ZipInvalid', /ZIP64 end-of-central-directory locator/);
  assertRefused(rawZip([{ name: 'new_module.py', content: MODULE, size: 0xffffffff }]), 'ZipInvalid', /entry `new_module.py` keeps its sizes or offset in a ZIP64/);
});

test('a second end-of-central-directory record hidden before the real one is refused with ZipInvalid', () => {
  // adm-zip would read the hidden record (60,000 entries) while a reader stopping at the last one sees 1.
  const fake = Buffer.alloc(20);
  EOCD_SIGNATURE.copy(fake, 0);
  fake.writeUInt16LE(60_000, 8);
  fake.writeUInt16LE(60_000, 10);
  const zip = rawZip([{ name: 'new_module.py', content: MODULE, comment: fake }]);
  assertRefused(zip, 'ZipInvalid', /got two overlapping ones/);
});

test('an archive split across disks is refused with ZipInvalid', () => {
  assertRefused(rawZip([{ name: 'new_module.py', content: MODULE }], { disk: 1 }), 'ZipInvalid', /split across disks/);
});

test('an encrypted new_module.py is refused with ZipInvalid', () => {
  assertRefused(patchEntry(zipOf({ 'new_module.py': MODULE }), 'new_module.py', { flags: 0x801 }), 'ZipInvalid', /`new_module.py` without a password, got an encrypted entry/);
});

test('a new_module.py compressed with bzip2 is refused with ZipInvalid naming the method', () => {
  assertRefused(rawZip([{ name: 'new_module.py', raw: Buffer.from('BZh91AY&SY'), method: 12, size: 40 }]), 'ZipInvalid', /compression method 12 \(bzip2\)/);
});

test('a new_module.py whose CRC-32 does not match its header is refused with ZipInvalid', () => {
  assertRefused(patchEntry(zipOf({ 'new_module.py': MODULE }), 'new_module.py', { crc: 0x12345678 }), 'ZipInvalid', /CRC-32 its header declares \(0x12345678\)/);
});

test('a new_module.py shorter than its header declares is refused with ZipInvalid', () => {
  const zip = patchEntry(zipOf({ 'new_module.py': MODULE }), 'new_module.py', { size: MODULE.length + 10 });
  assertRefused(zip, 'ZipInvalid', new RegExp(`declares, got ${MODULE.length} bytes`));
});

test('deflate data zlib cannot inflate is refused with ZipInvalid', () => {
  assertRefused(rawZip([{ name: 'new_module.py', raw: Buffer.from([0xff, 0xff, 0xff, 0xff]), size: 10 }]), 'ZipInvalid', /`new_module.py` to hold deflated data, got data zlib cannot inflate/);
});

test('two root modules (new_module.py and ./new_module.py) are refused with ZipInvalid', () => {
  const zip = rawZip([{ name: 'new_module.py', content: MODULE }, { name: './new_module.py', content: MODULE }]);
  assertRefused(zip, 'ZipInvalid', /one `new_module.py` .* got two: `new_module.py` and `.\/new_module.py`/);
});

// ---- Entry count ----------------------------------------------------------------------------

test('an archive with more entries than the limit is refused with ZipTooManyEntries', () => {
  const files: Record<string, string> = { 'new_module.py': MODULE };
  for (let i = 0; i < 5; i += 1) files[`extra${i}.txt`] = 'x';
  assertRefused(zipOf(files), 'ZipTooManyEntries', /at most 5 entries in the archive, got 6/, { ...LIMITS, maxEntries: 5 });
});

test('an end record claiming 60,000 entries is refused with ZipTooManyEntries before anything parses them', () => {
  // The file holds one entry: a parser believing the record would fail differently (or spend memory on 60,000).
  const zip = patchEnd(zipOf({ 'new_module.py': MODULE }), { entries: 60_000 });
  assertRefused(zip, 'ZipTooManyEntries', /at most 100 entries in the archive, got 60000/);
});

test('folders implied by deep paths count as entries and are refused with ZipTooManyEntries', () => {
  const deep = `${Array.from({ length: 10 }, (_, i) => `d${i}`).join('/')}/file.txt`;
  const zip = rawZip([{ name: 'new_module.py', content: MODULE }, { name: deep, content: 'x' }]);
  assertRefused(zip, 'ZipTooManyEntries', /at most 5 entries in the archive, got at least 6 \(2 entries and the folders their paths imply\)/, { ...LIMITS, maxEntries: 5 });
  assert.equal(inspectArchive(zip, { ...LIMITS, maxEntries: 12 }).ignoredEntries, 1, 'the same archive fits a limit of 2 entries + 10 folders');
});

test('an entry name of 32,000 nested folders is refused with ZipUnsafeEntry before adm-zip invents its folders', () => {
  // adm-zip 0.6.1 spends about 2.4 GB building the folders of this one name.
  const name = `${'a/'.repeat(32_000)}x`;
  assertRefused(rawZip([{ name: 'new_module.py', content: MODULE }, { name, content: 'x' }]), 'ZipUnsafeEntry', /at most 1024 bytes, got `a\/a\/a.*\.\.\.` \(64001 bytes\)/);
});

// ---- Unsafe entries -------------------------------------------------------------------------

const UNSAFE_NAMES: [string, string, RegExp][] = [
  ['../evil.py', 'an entry named ../evil.py', /got `\.\.\/evil\.py`, which has a `\.\.` component/],
  ['pkg/../../evil.py', 'an entry named pkg/../../evil.py', /got `pkg\/\.\.\/\.\.\/evil\.py`, which has a `\.\.` component/],
  ['..\\evil.py', 'an entry named ..\\evil.py', /got `\.\.\\\\evil\.py`, which has a `\.\.` component/],
  ['/etc/cron.d/evil', 'an entry named /etc/cron.d/evil', /got `\/etc\/cron\.d\/evil`, which is an absolute path/],
  ['\\evil.py', 'an entry named \\evil.py', /got `\\\\evil\.py`, which is an absolute path/],
  ['C:evil.py', 'an entry named C:evil.py', /got `C:evil\.py`, which is an absolute path/],
  ['evil\0.py', 'an entry with a NUL in its name', /got `evil\\u0000\.py`, which has a NUL character/],
];

for (const [name, described, message] of UNSAFE_NAMES) {
  test(`${described} is refused with ZipUnsafeEntry, though it would be ignored`, () => {
    const error = assertRefused(rawZip([{ name: 'new_module.py', content: MODULE }, { name, content: 'x' }]), 'ZipUnsafeEntry', message);
    assert.deepEqual(error.details, { entry: name });
  });
}

test('a symbolic link is refused with ZipUnsafeEntry, even one named new_module.py', () => {
  const link = (0o120777 << 16) >>> 0;
  assertRefused(rawZip([{ name: 'new_module.py', content: MODULE }, { name: 'data', content: '/etc/passwd', attr: link }]), 'ZipUnsafeEntry', /got `data`, which is a symbolic link/);
  assertRefused(rawZip([{ name: 'new_module.py', content: '/etc/passwd', attr: link }]), 'ZipUnsafeEntry', /got `new_module.py`, which is a symbolic link/);
});

// ---- Size and zip bombs ---------------------------------------------------------------------

let bomb200: Buffer | undefined;
/** 200 MiB of zeros in new_module.py, deflated by adm-zip to about 200 KB. */
function honestBomb(): Buffer {
  bomb200 ??= zipOf({ 'new_module.py': Buffer.alloc(200 * MiB) });
  return bomb200;
}

test('a zip bomb whose headers declare 200 MiB is refused with ZipTooLarge without inflating it', () => {
  assert.ok(honestBomb().length < 300_000, `the bomb is ${honestBomb().length} bytes`);
  const error = assertRefused(honestBomb(), 'ZipTooLarge', /at most 10485760 bytes \(10\.0 MiB\), its entries declare 209715200 bytes \(200\.0 MiB\)/);
  assert.deepEqual(error.details, { limit: 10 * MiB, declared: 200 * MiB });
});

test('a zip bomb whose headers claim 100 bytes is refused with ZipTooLarge once it inflates past the limit', () => {
  const lying = patchEntry(honestBomb(), 'new_module.py', { size: 100 });
  assertRefused(lying, 'ZipTooLarge', /`new_module.py` to unpack to at most 10485760 bytes .* unpacks to more although its header declares 100 bytes/);
});

test('a stored new_module.py over the limit is refused with ZipTooLarge whatever its header says', () => {
  const zip = rawZip([{ name: 'new_module.py', content: `${MODULE}${'#'.repeat(2000)}\n`, method: 0, size: 100 }]);
  assertRefused(zip, 'ZipTooLarge', /at most 1024 bytes .* header declares 100 bytes/, { ...LIMITS, maxUncompressedBytes: 1024 });
});

test('what new_module.py unpacks to leaves less for requirements.txt', () => {
  const module = `${MODULE}${'#'.repeat(700)}\n`;
  const zip = rawZip([{ name: 'new_module.py', content: module }, { name: 'requirements.txt', content: 'six\n'.repeat(200), size: 4 }]);
  assertRefused(zip, 'ZipTooLarge', new RegExp(`\`requirements.txt\` to unpack to at most ${1024 - module.length} bytes`), { ...LIMITS, maxUncompressedBytes: 1024 });
});

test('an ignored entry that would inflate to 1 GiB is never inflated', () => {
  const zip = rawZip([{ name: 'new_module.py', content: MODULE }, { name: 'weights.bin', raw: deflatedZeros(1024 * MiB), size: 100 }]);
  assert.deepEqual(inspectArchive(zip, LIMITS), { module: MODULE, requirements: '', ignoredEntries: 1, ignoredNames: ['weights.bin'] });
});

test('a lying 1 GiB bomb with a 10 MiB limit is refused while peak memory grows by less than 64 MiB', (t) => {
  const raw = deflatedZeros(1024 * MiB);
  const zip = rawZip([{ name: 'new_module.py', raw, size: 100 }]);

  // The bomb is real: streamed through zlib (never held), it unpacks to 1 GiB.
  let unpacked = 0;
  const inflate = zlib.createInflateRaw();
  inflate.on('data', (chunk: Buffer) => (unpacked += chunk.length));
  inflate.end(raw);
  return new Promise<void>((resolve, reject) => {
    inflate.on('error', reject);
    inflate.on('end', () => {
      try {
        assert.equal(unpacked, 1024 * MiB);
        // A fresh process, so the peak resident size (maxRSS, a high-water mark that catches
        // transient buffers an after-the-fact rss would miss) starts from nothing this file did.
        const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', MEMORY_PROBE], {
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          input: zip,
          encoding: 'utf8',
          timeout: 120_000,
        });
        assert.equal(child.status, 0, child.stderr);
        const probe = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as MemoryProbe;
        t.diagnostic(`peak RSS growth inspecting the bomb: ${(probe.peakGrowth / MiB).toFixed(1)} MiB; rss ${(probe.rssBefore / MiB).toFixed(1)} -> ${(probe.rssAfter / MiB).toFixed(1)} MiB; arrayBuffers ${(probe.arrayBuffersBefore / MiB).toFixed(1)} -> ${(probe.arrayBuffersAfter / MiB).toFixed(1)} MiB; control (uncapped to 256 MiB) grew ${(probe.controlGrowth / MiB).toFixed(1)} MiB`);
        assert.equal(probe.code, 'ZipTooLarge', probe.message);
        assert.ok(probe.peakGrowth < 64 * MiB, `peak RSS grew by ${probe.peakGrowth} bytes`);
        // The measurement can see a blow-up: inflating the same bytes capped at 256 MiB moves the peak.
        assert.ok(probe.controlGrowth > 200 * MiB, `the control grew the peak by only ${probe.controlGrowth} bytes`);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  });
});

interface MemoryProbe {
  code: string;
  message: string;
  peakGrowth: number;
  rssBefore: number;
  rssAfter: number;
  arrayBuffersBefore: number;
  arrayBuffersAfter: number;
  controlGrowth: number;
}

/** Reads a zip on stdin, inspects it with a 10 MiB limit and prints how the process's memory moved. */
const MEMORY_PROBE = `
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import AdmZip from 'adm-zip';
import { inspectArchive } from ${JSON.stringify(ARCHIVE_MODULE)};
const zip = readFileSync(0);
const peak = () => process.resourceUsage().maxRSS * 1024;
const before = process.memoryUsage();
const peakBefore = peak();
let code = 'accepted', message = '';
try {
  inspectArchive(zip, { maxEntries: 10, maxUncompressedBytes: ${10 * MiB} });
} catch (error) {
  code = error.code ?? String(error);
  message = error.message;
}
const peakAfter = peak();
const after = process.memoryUsage();
const raw = new AdmZip(zip).getEntries()[0].getCompressedData();
try { zlib.inflateRawSync(raw, { maxOutputLength: ${256 * MiB} }); } catch {}
console.log(JSON.stringify({
  code, message, peakGrowth: peakAfter - peakBefore,
  rssBefore: before.rss, rssAfter: after.rss,
  arrayBuffersBefore: before.arrayBuffers, arrayBuffersAfter: after.arrayBuffers,
  controlGrowth: peak() - peakAfter,
}));
`;

// ---- Module and requirements content --------------------------------------------------------

test('an archive without new_module.py is refused with ZipMissingModule', () => {
  assertRefused(zipOf({ 'main.py': MODULE }), 'ZipMissingModule', /Expected `new_module.py` at the root of the archive, found none/);
});

test('a new_module.py in a folder is refused with ZipMissingModule naming where it was found', () => {
  assertRefused(zipOf({ 'pkg/new_module.py': MODULE }), 'ZipMissingModule', /found `pkg\/new_module.py`; it must be at the root of the archive/);
});

test('a new_module.py that is not UTF-8 is refused with ZipInvalid', () => {
  const latin1 = Buffer.from('# caf\xe9\ndef main(payload):\n    return 1\n', 'latin1');
  assertRefused(zipOf({ 'new_module.py': latin1 }), 'ZipInvalid', /`new_module.py` to be UTF-8 text/);
});

test('a requirements.txt that is not UTF-8 is refused with ZipBadRequirements', () => {
  const utf16 = Buffer.from('\ufeffrequests\n', 'utf16le');
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': utf16 }), 'ZipBadRequirements', /`requirements.txt` to be UTF-8 text/);
});

test('a new_module.py without a top-level def main is refused with ZipMissingMain', () => {
  assertRefused(zipOf({ 'new_module.py': 'def handler(payload):\n    return 1\n' }), 'ZipMissingMain', /top-level function `def main\(payload\):` .* got none$/);
  assertRefused(zipOf({ 'new_module.py': 'main = lambda payload: payload\n' }), 'ZipMissingMain', /got none/);
});

test('a def main inside a class is refused with ZipMissingMain pointing at its line', () => {
  assertRefused(zipOf({ 'new_module.py': 'class Handler:\n    def main(self, payload):\n        return 1\n' }), 'ZipMissingMain', /indented `def main\(` on line 2/);
});

test('an async def main is refused with ZipMissingMain saying main must be a plain function', () => {
  assertRefused(zipOf({ 'new_module.py': 'import asyncio\n\nasync def main(payload):\n    return 1\n' }), 'ZipMissingMain', /main as a plain function .* got `async def main` on line 3/);
});

const PIP_OPTIONS: [string, string, string, number][] = [
  ['--index-url', 'six\n\n--index-url https://pypi.evil.example/simple\n', '--index-url', 3],
  ['-i', 'six\n-i https://pypi.evil.example/simple\n', '-i', 2],
  ['--extra-index-url=', '--extra-index-url=https://pypi.evil.example/simple\nsix\n', '--extra-index-url', 1],
  ['-e', '-e git+https://evil.example/repo.git#egg=evil\n', '-e', 1],
  ['-r', '# mine\n-r other.txt\n', '-r', 2],
  ['--find-links', 'six\n  --find-links https://evil.example/wheels\n', '--find-links', 2],
  ['--trusted-host', '--trusted-host evil.example\n', '--trusted-host', 1],
];

for (const [option, requirements, named, line] of PIP_OPTIONS) {
  test(`a requirements.txt line with ${option} is refused with ZipBadRequirements naming the line and option`, () => {
    const error = assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': requirements }), 'ZipBadRequirements', new RegExp(`got the pip option \`${named}\` on line ${line};`));
    assert.deepEqual(error.details, { line, option: named });
  });
}

test('a pip option after a requirement on the same line is refused with ZipBadRequirements', () => {
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'six --index-url=https://evil.example\n' }), 'ZipBadRequirements', /`--index-url` on line 1/);
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'six --hash=sha256:00 --index-url=x\n' }), 'ZipBadRequirements', /`--index-url` on line 1/);
});

test('a pip option on a continuation line is refused with ZipBadRequirements at the line pip reports', () => {
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'six\nrequests \\\n--index-url https://evil.example\n' }), 'ZipBadRequirements', /`--index-url` on line 2/);
});

test('a pip option after a line break only Python sees is refused with ZipBadRequirements', () => {
  // Python's splitlines() breaks at \x1c and \x85; JavaScript's line terminators do not include them.
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'six\x1c--index-url https://evil.example\n' }), 'ZipBadRequirements', /`--index-url` on line 2/);
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': 'six\n\x1f--index-url https://evil.example\n' }), 'ZipBadRequirements', /`--index-url` on line 2/);
});

test('a comment line ending in a backslash does not swallow the option on the next line', () => {
  assertRefused(zipOf({ 'new_module.py': MODULE, 'requirements.txt': '# see below \\\n--index-url https://evil.example\n' }), 'ZipBadRequirements', /`--index-url` on line 2/);
});
