/**
 * The policy engine and the webhook rate limiter: pure logic, tested on their own (the tenancy
 * and keystone test files show them at work behind the real API and Keystone).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseCheck, Policy, PolicyError, policySample, type Credentials, type Target } from '../api/policy.js';
import { RateLimiter } from '../api/rate-limit.js';
import { defaultSettings } from '../common/config.js';
import { createLogger, silentLogger } from '../common/log.js';

const caller = (roles: string[], project = 'p1'): Credentials => ({ user_id: 'u1', project_id: project, roles });
const own: Target = { project_id: 'p1', user_id: 'u1' };
const theirs: Target = { project_id: 'p2', user_id: 'u2' };

/** Runs `check` with a policy file holding `content`, removed after. */
function withFile(content: string, check: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pratai-policy-'));
  try {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, content);
    check(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('check strings', () => {
  const decide = (text: string, credentials: Credentials, target: Target = own): boolean => parseCheck(text)(credentials, target, new Map(), 0);

  test('roles, the project match, @, !, not, and, or and parentheses decide as in oslo.policy', () => {
    assert.equal(decide('role:member', caller(['Member'])), true, 'roles compare without case');
    assert.equal(decide('role:admin', caller(['member'])), false);
    assert.equal(decide('project_id:%(project_id)s', caller([])), true);
    assert.equal(decide('project_id:%(project_id)s', caller([]), theirs), false);
    assert.equal(decide('user_id:%(user_id)s and role:reader', caller(['reader'])), true);
    assert.equal(decide('project_id:p1', caller([])), true);
    assert.equal(decide('@', caller([])), true);
    assert.equal(decide('!', caller(['admin'])), false);
    assert.equal(decide('', caller([])), true, 'an empty rule allows everyone');
    assert.equal(decide('not role:reader', caller(['reader'])), false);
    assert.equal(decide('role:admin or (project_id:%(project_id)s and role:member)', caller(['member']), theirs), false);
    assert.equal(decide('role:admin or (project_id:%(project_id)s and role:member)', caller(['member'])), true);
    assert.equal(decide('(role:a or role:b) and (role:c)', caller(['b', 'c'])), true);
  });

  test('a check string that does not parse is refused, saying where', () => {
    assert.throws(() => parseCheck('role:admin or'), PolicyError);
    assert.throws(() => parseCheck('(role:admin'), /`\)` is missing/);
    assert.throws(() => parseCheck('admin'), /not a check/);
    assert.throws(() => parseCheck('tenant:%(project_id)s'), /not something a caller has/);
    assert.throws(() => parseCheck('project_id:%(name)s'), /not something a resource has/);
  });
});

describe('the default rules', () => {
  const policy = new Policy(undefined, silentLogger);
  const allows = (action: string, roles: string[], target: Target = own): boolean => policy.allows(action, caller(roles), target);

  test('members write in their own project, readers only read, nobody acts in another project but an admin', () => {
    for (const action of ['function:create', 'function:update', 'function:delete', 'function:invoke', 'request:cancel']) {
      assert.equal(allows(action, ['member', 'reader']), true, `member: ${action}`);
      assert.equal(allows(action, ['reader']), false, `reader: ${action}`);
    }
    for (const action of ['function:list', 'function:get', 'request:list', 'request:get', 'runtime:list']) assert.equal(allows(action, ['reader']), true, `reader: ${action}`);
    for (const action of ['function:get', 'function:update', 'function:delete', 'request:get', 'request:cancel']) {
      assert.equal(allows(action, ['member'], theirs), false, `member of another project: ${action}`);
      assert.equal(allows(action, ['admin'], theirs), true, `admin: ${action}`);
    }
    assert.equal(allows('function:invoke', ['admin'], theirs), false, "a private webhook needs a token of the function's project");
    assert.equal(allows('function:list:all_tenants', ['member']), false);
    assert.equal(allows('function:list:all_tenants', ['admin']), true);
    assert.equal(allows('no:such:action', ['admin']), false, 'an action without a rule is refused');
  });

  test("function:network lets members give their own project's functions network, and admins any; readers and other projects' members not", () => {
    assert.equal(allows('function:network', ['member']), true);
    assert.equal(allows('function:network', ['reader']), false);
    assert.equal(allows('function:network', ['member'], theirs), false);
    assert.equal(allows('function:network', ['admin'], theirs), true);
    assert.equal(allows('function:network', []), false);
  });

  test('function:network is overridden like any rule: an operator may keep network to administrators', () => {
    withFile('"function:network": "rule:context_is_admin"\n', (file) => {
      const policy = new Policy(file, silentLogger);
      assert.equal(policy.allows('function:network', caller(['member']), own), false);
      assert.equal(policy.allows('function:network', caller(['admin']), own), true);
    });
  });

  test('etc/policy.yaml is the generated sample, and pratai-manage policy-sample prints it', () => {
    const root = join(import.meta.dirname, '..');
    assert.equal(readFileSync(join(root, 'etc', 'policy.yaml'), 'utf8'), policySample(), 'regenerate with: node dist/bin/pratai-manage.js policy-sample > etc/policy.yaml');
    const printed = execFileSync(process.execPath, [join(root, 'dist', 'bin', 'pratai-manage.js'), 'policy-sample'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(printed, policySample());
  });
});

describe('the policy file', () => {
  test('its rules override the defaults, in YAML or JSON', () => {
    withFile('"function:create": "role:creator"\n', (file) => {
      const policy = new Policy(file, silentLogger);
      assert.equal(policy.allows('function:create', caller(['member']), own), false);
      assert.equal(policy.allows('function:create', caller(['creator']), own), true);
      assert.equal(policy.allows('function:delete', caller(['member']), own), true, 'the other rules keep their defaults');
    });
    withFile('{"context_is_admin": "role:cloud-admin"}', (file) => {
      const policy = new Policy(file, silentLogger);
      assert.equal(policy.allows('function:get', caller(['admin']), theirs), false);
      assert.equal(policy.allows('function:get', caller(['cloud-admin']), theirs), true);
    });
  });

  test('a bad file stops the start, naming the rule; a bad edit later keeps the rules in force and logs why', () => {
    withFile('"function:create": "rule:nobody"\n', (file) => {
      assert.throws(() => new Policy(file, silentLogger), /rule `function:create` refers to `rule:nobody`, which is not defined/);
    });
    withFile('"function:create": "role:creator"\n', (file) => {
      const lines: string[] = [];
      const policy = new Policy(file, createLogger('test', { write: (line) => lines.push(line) }));
      writeFileSync(file, '"function:create": "role:creator or"\n');
      assert.equal(policy.allows('function:create', caller(['creator']), own), true);
      assert.match(lines.join(''), /ERROR .*function:create.*the rules read before stay in force/);
    });
  });

  test('[oslo_policy] policy_file naming a missing file stops the start', () => {
    assert.throws(() => Policy.fromSettings(defaultSettings({ oslo_policy: { policy_file: '/nonexistent/policy.yaml' } }), silentLogger), /does not exist/);
  });
});

describe('the public webhook rate limit', () => {
  test('a burst goes through, then one call per refill, each refusal saying the seconds to wait', () => {
    let now = 0;
    const limiter = new RateLimiter(6, 2, () => now); // 6 a minute: one every 10 s
    assert.deepEqual([limiter.take('f'), limiter.take('f'), limiter.take('f')], [0, 0, 10]);
    assert.equal(limiter.take('g'), 0, 'each function has its own bucket');
    now += 4_000;
    assert.equal(limiter.take('f'), 6);
    now += 6_000;
    assert.equal(limiter.take('f'), 0);
    now += 3_600_000;
    assert.deepEqual([limiter.take('f'), limiter.take('f'), limiter.take('f')], [0, 0, 10], 'a bucket refills only up to the burst');
  });

  test('several calls at once are taken all or none, and waiting says when that many are allowed', () => {
    let now = 0;
    const limiter = new RateLimiter(6, 5, () => now); // one every 10 s, 5 at once
    assert.equal(limiter.take('f', 3), 0);
    assert.equal(limiter.wait('f', 3), 10, 'two left: a third comes in 10 s');
    assert.equal(limiter.take('f', 3), 10);
    assert.equal(limiter.wait('f', 2), 0, 'the refused take took nothing');
    assert.equal(limiter.take('f', 2), 0);
    assert.equal(limiter.wait('f'), 10);
    assert.equal(limiter.take('f'), 10);
    now += 30_000;
    assert.equal(limiter.take('f', 4), 10, 'three came back in 30 s, a fourth comes in 10');
    assert.equal(limiter.take('f', 3), 0);
  });

  test('a rate of 0 means no limit', () => {
    const limiter = new RateLimiter(0, 1);
    for (let i = 0; i < 100; i += 1) assert.equal(limiter.take('f'), 0);
  });
});
