/** Configuration as operators write it: an oslo-style INI file, PRATAI_* variables, a sample. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, databaseUrl, loadSettings, sampleConfig } from '../common/config.js';

const folder = mkdtempSync(join(tmpdir(), 'pratai-config-'));
after(() => rmSync(folder, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
};

test('every option has its documented default', () => {
  const { settings } = loadSettings({ files: ['/dev/null'], env: {} });
  assert.equal(settings.api.port, 9998);
  assert.equal(settings.api.webhook_port, 9898);
  assert.equal(settings.DEFAULT.auth_strategy, 'noauth');
  assert.equal(settings.runner.network, 'none');
  assert.equal(databaseUrl(settings), 'sqlite:///var/lib/pratai/pratai.db');
  assert.ok(Object.isFrozen(settings) && Object.isFrozen(settings.api));
});

test('the file sets options by section, and PRATAI_<SECTION>_<OPTION> wins over it', () => {
  const path = file('a.conf', '[DEFAULT]\n# a comment\ndebug = true\n\n[api]\nport = 1234\nwebhook_port = 4321\n\n[database]\nconnection = sqlite:///tmp/x.db\n');
  const { settings, warnings } = loadSettings({ files: [path], env: { PRATAI_API_PORT: '5555', PRATAI_BUILD_PIP_FIND_LINKS: '/a, /b' } });
  assert.equal(settings.DEFAULT.debug, true);
  assert.equal(settings.api.port, 5555);
  assert.equal(settings.api.webhook_port, 4321);
  assert.equal(databaseUrl(settings), 'sqlite:///tmp/x.db');
  assert.deepEqual(settings.build.pip_find_links, ['/a', '/b']);
  assert.deepEqual(warnings, []);
});

test('a later --config-file wins over an earlier one', () => {
  const first = file('first.conf', '[api]\nport = 1111\nhost = 10.0.0.1\n');
  const second = file('second.conf', '[api]\nport = 2222\n');
  const { settings } = loadSettings({ files: [first, second], env: {} });
  assert.equal(settings.api.port, 2222);
  assert.equal(settings.api.host, '10.0.0.1');
});

test('a bad value stops loading with a message naming the option, its source and what was expected', () => {
  const path = file('bad.conf', '[runner]\nconcurrency = lots\n');
  assert.throws(() => loadSettings({ files: [path], env: {} }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, `Invalid configuration: [runner] concurrency (from ${path}): expected an integer from 1 to 256, got \`"lots"\` (string)`);
    return true;
  });
  assert.throws(() => loadSettings({ files: ['/dev/null'], env: { PRATAI_DEFAULT_DEBUG: 'perhaps' } }), /\[DEFAULT\] debug \(from environment variable PRATAI_DEFAULT_DEBUG\): expected true or false/);
});

test('unknown sections, options and PRATAI_ variables are warned about, not silently used', () => {
  const path = file('typo.conf', '[api]\nprot = 1\n[apii]\nport = 2\n');
  const { warnings } = loadSettings({ files: [path], env: { PRATAI_API_PROT: '3' } });
  assert.deepEqual(warnings, [
    `${path}: unknown option [api] prot is ignored`,
    `${path}: unknown section [apii] is ignored`,
    'unknown environment variable PRATAI_API_PROT is ignored',
  ]);
});

test('etc/pratai.conf.sample is the generated sample, and pratai-manage config-sample prints it', () => {
  const root = join(import.meta.dirname, '..');
  const committed = readFileSync(join(root, 'etc', 'pratai.conf.sample'), 'utf8');
  assert.equal(committed, sampleConfig(), 'regenerate with: node dist/bin/pratai-manage.js config-sample > etc/pratai.conf.sample');
  const printed = execFileSync(process.execPath, [join(root, 'dist', 'bin', 'pratai-manage.js'), 'config-sample'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.equal(printed, committed);
  // The sample itself loads, every option at its default.
  assert.deepEqual(loadSettings({ files: [join(root, 'etc', 'pratai.conf.sample')], env: {} }).settings, loadSettings({ files: ['/dev/null'], env: {} }).settings);
});
