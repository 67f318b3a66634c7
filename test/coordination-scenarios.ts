/**
 * Scripted coordination scenarios that test/coordination-zookeeper-reference.test.ts runs on a
 * real ZooKeeper (through kazoo, test/helpers/zookeeper-driver.py) and on Pratai's REST API, to
 * compare what each answers. Each scenario works under a top-level node of its own; its sessions
 * (`s`, default `a`) are opened before its first step and closed after its last. Paths go to the
 * server as written, bad ones too. Node data is UTF-8 text.
 */

export type MultiOp =
  | { op: 'create'; path: string; data?: string; ephemeral?: boolean; sequential?: boolean }
  | { op: 'set'; path: string; data?: string; version?: number }
  | { op: 'delete' | 'check'; path: string; version?: number };

/** What each side answers where Pratai differs from ZooKeeper on purpose (ARCHITECTURE.md says why). */
export interface KnownDifference {
  zookeeper: Record<string, unknown>;
  pratai: Record<string, unknown>;
}

/**
 * `s`: the session that makes the call (default `a`). `settle: false`: the sessions' events are
 * not taken after this step but with the next one's, to see several writes' events in order.
 */
export type Step = { s?: string; settle?: false; known?: KnownDifference } & (
  | { do: 'create'; path: string; data?: string; ephemeral?: boolean; sequential?: boolean }
  | { do: 'get' | 'exists' | 'children'; path: string; watch?: boolean }
  | { do: 'set'; path: string; data?: string; version?: number }
  | { do: 'delete'; path: string; version?: number }
  | { do: 'multi'; ops: MultiOp[] }
  /** Closes the session: its ephemeral nodes go, and its watches. */
  | { do: 'close' }
);

export interface Scenario {
  name: string;
  steps: Step[];
}

/** The sessions a scenario uses, in the order they first appear. */
export const sessionsOf = (scenario: Scenario): string[] => [...new Set(scenario.steps.map((step) => step.s ?? 'a'))];

const create = (path: string, more: Omit<Extract<Step, { do: 'create' }>, 'do' | 'path'> = {}): Step => ({ do: 'create', path, ...more });
const get = (path: string, more: { s?: string; watch?: boolean } = {}): Step => ({ do: 'get', path, ...more });
const exists = (path: string, more: { s?: string; watch?: boolean } = {}): Step => ({ do: 'exists', path, ...more });
const children = (path: string, more: { s?: string; watch?: boolean } = {}): Step => ({ do: 'children', path, ...more });
const set = (path: string, data: string, more: { s?: string; version?: number } = {}): Step => ({ do: 'set', path, data, ...more });
const del = (path: string, more: { s?: string; version?: number } = {}): Step => ({ do: 'delete', path, ...more });
const multi = (ops: MultiOp[], s?: string): Step => ({ do: 'multi', ops, s });
const watched = { s: 'w', watch: true };
/**
 * A bad path that ZooKeeper's server does not check (a read's, a delete's, a create's whose parent
 * path is bad too): it answers as for any missing node, where Pratai checks every path, as
 * ZooKeeper's own client library does before it sends (ARCHITECTURE.md says why).
 */
const checkedByPratai = (step: Step, zookeeper: Record<string, unknown> = { error: 'NoNode' }): Step => ({ ...step, known: { zookeeper, pratai: { error: 'BadArguments' } } });

export const SCENARIOS: Scenario[] = [
  {
    name: 'the error matrix: NoNode, NodeExists, BadVersion, NotEmpty, NoChildrenForEphemerals',
    steps: [
      create('/err/x'),
      create('/err', { data: 'x' }),
      create('/err'),
      create('/'),
      del('/'),
      set('/err', 'y', { version: 3 }),
      set('/err', 'y', { version: -2 }),
      set('/err/none', 'y'),
      set('/err/none', 'y', { version: 5 }),
      del('/err', { version: 1 }),
      del('/err/none'),
      del('/err/none/deeper'),
      get('/err/none'),
      children('/err/none'),
      exists('/err/none'),
      create('/err/child'),
      del('/err'),
      del('/err', { version: 7 }),
      create('/err/eph', { ephemeral: true }),
      create('/err/eph/child'),
      create('/err/eph/seq-', { sequential: true }),
      create('/err/eph/child', { ephemeral: true }),
      create('/err/eph'),
      set('/err/eph', 'e', { version: 0 }),
      del('/err/child', { version: 1 }),
      del('/err/child', { version: 0 }),
      set('/err', 'y', { version: 0 }),
      get('/err'),
      del('/err/eph', { version: 0 }),
      del('/err/eph', { version: 1 }),
      del('/err', { version: 1 }),
      exists('/err'),
    ],
  },
  {
    name: 'bad paths are refused with BadArguments',
    steps: [
      create('/bad'),
      checkedByPratai(create('/bad//x')),
      create('/bad/'),
      create('/bad/.'),
      create('/bad/..'),
      checkedByPratai(create('/bad/./x')),
      checkedByPratai(create('/bad/x/../y')),
      create('/bad/nul\u0000x'),
      create('/bad/ctl\u0001'),
      create('/bad/del\u007f'),
      create('/bad/c1\u0085'),
      create('/bad/pua\ue000'),
      create('/bad/spec\ufff5'),
      checkedByPratai(get('/bad/')),
      checkedByPratai(get('/bad//x')),
      checkedByPratai(exists('/bad/.'), { stat: null }),
      checkedByPratai(children('/bad/..')),
      set('/bad/', 'x'),
      set('/bad/x/../y', 'x'),
      checkedByPratai(del('/bad//x')),
      // What ZooKeeper accepts: any other Unicode, spaces, dots within names.
      create('/bad/é名 x'),
      create('/bad/.hidden'),
      create('/bad/a..b'),
      create('/bad/', { sequential: true }),
      create('/bad/x-', { sequential: true }),
      children('/bad'),
      multi([{ op: 'create', path: 'relative' }]),
      multi([{ op: 'create', path: '/bad/ok' }, { op: 'check', path: '/bad/' }]),
      // A multi's paths are all checked before any op is tried.
      { ...multi([{ op: 'delete', path: '/bad/none' }, { op: 'create', path: '/bad/' }]), known: { zookeeper: { results: [{ error: 'NoNode' }, { error: 'RuntimeInconsistency' }] }, pratai: { results: [{ error: 'RolledBack' }, { error: 'BadArguments' }] } } },
      exists('/bad/ok'),
    ],
  },
  {
    name: 'stat fields after each operation: versions, counts, data length, zxid order',
    steps: [
      create('/st', { data: 'abc' }),
      create('/st-utf8', { data: 'é名' }),
      set('/st-utf8', 'é名'),
      set('/st', 'abcd'),
      set('/st', '', { version: 1 }),
      get('/st'),
      create('/st/c1', { data: 'one' }),
      create('/st/c2'),
      get('/st'),
      del('/st/c1'),
      exists('/st'),
      set('/st/c2', 'x'),
      children('/st'),
      create('/st/c1', { data: 'again' }),
      get('/st/c1'),
      set('/st', 'z', { version: 2 }),
      exists('/st'),
      set('/st/c2', 'xy', { version: 0 }),
      get('/st/c2'),
      del('/st/c2', { version: 1 }),
      del('/st/c1', { version: 0 }),
      get('/st'),
      children('/st'),
    ],
  },
  {
    name: 'sequential names: the parent’s counter, ten digits, never reused',
    steps: [
      create('/seq'),
      create('/seq/n-', { sequential: true }),
      create('/seq/n-', { sequential: true, data: 'd' }),
      create('/seq/n-', { sequential: true }),
      create('/seq/plain'),
      create('/seq/n-', { sequential: true }),
      del('/seq/n-0000000004'),
      create('/seq/', { sequential: true }),
      del('/seq/plain'),
      create('/seq/n-', { sequential: true, ephemeral: true }),
      create('/seq/n-0000000009'),
      create('/seq/n-', { sequential: true }),
      multi([
        { op: 'create', path: '/seq/m-', sequential: true },
        { op: 'create', path: '/seq/m-', sequential: true, ephemeral: true },
      ]),
      create('/seq/sub'),
      create('/seq/sub/n-', { sequential: true }),
      children('/seq'),
      get('/seq'),
    ],
  },
  {
    name: 'multi: all or nothing, per-op results as ZooKeeper reports them',
    steps: [
      create('/m', { data: 'a' }),
      multi([{ op: 'create', path: '/m/x' }, { op: 'check', path: '/m', version: 7 }, { op: 'create', path: '/m/y' }]),
      exists('/m/x'),
      get('/m'),
      multi([
        { op: 'create', path: '/m/x', data: 'x' },
        { op: 'check', path: '/m', version: 0 },
        { op: 'set', path: '/m', data: 'b', version: 0 },
        { op: 'create', path: '/m/x/deep' },
        { op: 'set', path: '/m/x', data: 'xx' },
        { op: 'delete', path: '/m/x/deep', version: 0 },
        { op: 'check', path: '/m/x', version: 1 },
      ]),
      get('/m'),
      get('/m/x'),
      multi([{ op: 'delete', path: '/m/none' }, { op: 'create', path: '/m/z' }]),
      multi([{ op: 'create', path: '/m/z' }, { op: 'set', path: '/m', data: 'c', version: 9 }]),
      multi([{ op: 'create', path: '/m/w' }, { op: 'create', path: '/m/w' }]),
      multi([{ op: 'create', path: '/m/p' }, { op: 'create', path: '/m/p/q' }, { op: 'delete', path: '/m/p' }]),
      multi([{ op: 'create', path: '/m/e', ephemeral: true }, { op: 'create', path: '/m/e/child' }]),
      multi([{ op: 'create', path: '/m/gone' }, { op: 'create', path: '/m/gone/deeper/still' }]),
      multi([{ op: 'check', path: '/m/none' }]),
      multi([{ op: 'set', path: '/m', data: 'c', version: 5 }]),
      multi([{ op: 'set', path: '/m', data: 'c', version: 1 }]),
      multi([]),
      multi([{ op: 'check', path: '/m' }, { op: 'check', path: '/m', version: -2 }]),
      multi([{ op: 'create', path: '/m/e', ephemeral: true }, { op: 'delete', path: '/m/x' }, { op: 'check', path: '/m/x' }]),
      multi([{ op: 'create', path: '/m/x' }, { op: 'delete', path: '/m/x', version: 0 }, { op: 'create', path: '/m/x', data: 'new' }]),
      get('/m/x'),
      exists('/m/e'),
      children('/m'),
      get('/m'),
    ],
  },
  {
    name: 'watches: which fire, their event types and order, once each',
    steps: [
      create('/w', { data: 'a' }),
      get('/w', watched),
      exists('/w/new', watched),
      children('/w', watched),
      create('/w/new'),
      set('/w', 'b'),
      set('/w', 'c'),
      create('/w/other'),
      get('/w/new', watched),
      children('/w/new', watched),
      children('/w', watched),
      exists('/w', watched),
      del('/w/new'),
      set('/w', 'd'),
      // A get or get_children of a missing node sets no watch; exists does.
      get('/w/missing', watched),
      children('/w/missing', watched),
      create('/w/missing'),
      exists('/w/later', watched),
      create('/w/later'),
      del('/w/later'),
      // One watch of a kind per node and session, however often it is set; each session has its own.
      exists('/w', watched),
      get('/w', watched),
      get('/w', watched),
      get('/w', { s: 'v', watch: true }),
      children('/w', { s: 'v', watch: true }),
      set('/w', 'e'),
      // A child watch ignores data; a data watch ignores children.
      children('/w', watched),
      get('/w', watched),
      set('/w/other', 'x'),
      create('/w/kid'),
      set('/w', 'f'),
      // The writer's own watch fires too.
      get('/w/other', watched),
      set('/w/other', 'y', { s: 'w' }),
      // Every change of a multi fires, in the multi's order; a failed multi fires nothing.
      exists('/w/t', watched),
      children('/w', watched),
      get('/w', watched),
      get('/w/kid', watched),
      multi([{ op: 'check', path: '/w/t', version: 0 }]),
      multi([{ op: 'create', path: '/w/t' }, { op: 'set', path: '/w', data: 'g' }, { op: 'check', path: '/w', version: 99 }]),
      multi([{ op: 'create', path: '/w/t' }, { op: 'delete', path: '/w/t' }, { op: 'set', path: '/w', data: 'g' }, { op: 'delete', path: '/w/kid' }]),
      // Events of several writes arrive in the writes' order.
      get('/w', watched),
      children('/w', watched),
      exists('/w/z', watched),
      get('/w/other', watched),
      { ...set('/w', 'h'), settle: false },
      { ...create('/w/z'), settle: false },
      { ...set('/w/other', 'z', { s: 'w' }), settle: false },
      del('/w/z'),
      // Deleting a node fires its data and child watches, and its parent's child watch.
      create('/w/p'),
      create('/w/p/c'),
      children('/w/p', watched),
      get('/w/p/c', watched),
      exists('/w/p', watched),
      del('/w/p/c'),
      children('/w/p', watched),
      del('/w/p'),
      exists('/w/p', watched),
      create('/w/p'),
    ],
  },
  {
    name: 'ephemeral nodes go when their session closes, firing the watches on them',
    steps: [
      create('/eph'),
      create('/eph/a1', { ephemeral: true }),
      create('/eph/a-', { ephemeral: true, sequential: true }),
      multi([{ op: 'create', path: '/eph/a2', ephemeral: true, data: 'm' }]),
      create('/eph/b1', { s: 'b', ephemeral: true }),
      create('/eph/persistent', { s: 'b' }),
      get('/eph/a1'),
      exists('/eph/b1', { s: 'a' }),
      set('/eph/a1', 'still mine', { s: 'b' }),
      get('/eph/a1', { s: 'b' }),
      exists('/eph/a1', watched),
      get('/eph/a2', watched),
      get('/eph/b1', watched),
      children('/eph', watched),
      get('/eph', watched),
      // The closing session's own watches go with it.
      get('/eph/a1', { watch: true }),
      children('/eph', { watch: true }),
      get('/eph/b1', { watch: true }),
      { do: 'close' },
      children('/eph', { s: 'w' }),
      get('/eph', { s: 'w' }),
      exists('/eph/a1', { s: 'w' }),
      exists('/eph/a-0000000001', { s: 'w' }),
      // Another session may delete an ephemeral node.
      del('/eph/b1', { s: 'w' }),
      create('/eph/b2', { s: 'b', ephemeral: true }),
      children('/eph', watched),
      exists('/eph/b2', watched),
      { do: 'close', s: 'b' },
      children('/eph', { s: 'w' }),
      get('/eph', { s: 'w' }),
      // A session with no ephemeral node closes without a change.
      { do: 'close', s: 'w' },
    ],
  },
];
