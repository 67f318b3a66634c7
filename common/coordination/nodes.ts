/**
 * Coordination's words (ARCHITECTURE.md, glossary): a **node** of a project's tree, its **stat**,
 * a **session** (whose **ephemeral** nodes live as long as it does), a one-shot **watch** and the
 * **event** it fires, and the **zxid**, the place of a write in its project's one order.
 */
import type { RequestRecord } from '../domain.js';

/** A node's metadata, ZooKeeper's Stat without ACLs; times in milliseconds since the epoch. */
export interface Stat {
  /** The zxid of the write that created the node. */
  czxid: number;
  /** The zxid of its last data change (its creation at first). */
  mzxid: number;
  /** The zxid of the last change of its children (its creation at first). */
  pzxid: number;
  /** How many times its data was set. */
  version: number;
  /** How many times its children changed (a creation or a deletion). */
  cversion: number;
  ctime: number;
  mtime: number;
  /** The session that owns the node when it is ephemeral, else null. */
  ephemeral_owner: string | null;
  num_children: number;
  data_length: number;
}

/** Largest data of a node, as ZooKeeper's jute.maxbuffer default: 1 MiB. */
export const MAX_DATA_BYTES = 1024 * 1024;

/** The version that matches any (ZooKeeper's -1). */
export const ANY_VERSION = -1;

export type Op =
  | { op: 'create'; path: string; data: Buffer; ephemeral: boolean; sequential: boolean }
  | { op: 'set'; path: string; data: Buffer; version: number }
  | { op: 'delete'; path: string; version: number }
  | { op: 'check'; path: string; version: number };

export type OpResult =
  | { op: 'create'; path: string; stat: Stat }
  | { op: 'set'; path: string; stat: Stat }
  | { op: 'delete'; path: string }
  | { op: 'check'; path: string };

/** What a write did: its zxid and one result per op, in order. */
export interface WriteResult {
  zxid: number;
  results: OpResult[];
  /** Sessions whose watches it fired: they have events to take. */
  notified: string[];
  /** The requests its changes made of the functions subscribed to their nodes, stored with it: their jobs are to be published. */
  requests: RequestRecord[];
}

/** Which watches a read sets: `data` (get, exists) or `child` (get_children). */
export type WatchKind = 'data' | 'child';

/** ZooKeeper's event types. */
export type EventType = 'NodeCreated' | 'NodeDeleted' | 'NodeDataChanged' | 'NodeChildrenChanged';

/** A fired watch, as its session receives it: once, in zxid order. */
export interface WatchEvent {
  type: EventType;
  path: string;
  zxid: number;
  /** Which watch fired: the client calls the callbacks of that kind on that path. */
  watch: WatchKind;
}

export type Read =
  | { read: 'get'; path: string; watch: boolean }
  | { read: 'exists'; path: string; watch: boolean }
  | { read: 'children'; path: string; watch: boolean };

export type ReadResult =
  | { read: 'get'; data: Buffer; stat: Stat }
  | { read: 'exists'; stat: Stat | null }
  | { read: 'children'; children: string[]; stat: Stat };

export interface SessionRecord {
  session_id: string;
  tenant_id: string;
  timeout_ms: number;
  /** Milliseconds since the epoch after which it is expired unless kept alive. */
  expires_at: number;
  /** The function request it serves, if any: it is closed when that request's run ends. */
  request_id: string | null;
  created_at: string;
}
