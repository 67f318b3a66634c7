/**
 * The one registry of Pratai's error codes.
 *
 * Every error a client can see has a stable `code` (never renamed once shipped), the HTTP status
 * it is answered with, and whether retrying the same call may succeed. docs/errors.md lists them
 * and test/errors.test.ts pins them, so a change here is a deliberate API change.
 */

export interface ErrorSpec {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** True when the same call may succeed later without changes (the platform's fault, not the caller's). */
  readonly retryable: boolean;
  /** One line for the docs. */
  readonly summary: string;
}

export const ERRORS = {
  // 400: the caller sent something we refuse; the message names what.
  InvalidParameter: { status: 400, retryable: false, summary: 'A field or query parameter has a value outside what is accepted.' },
  InvalidJson: { status: 400, retryable: false, summary: 'The request body is not valid JSON.' },
  PayloadMissing: { status: 400, retryable: false, summary: 'A webhook body is JSON but has no `payload` key.' },
  ZipMissing: { status: 400, retryable: false, summary: 'The multipart upload has no `zip` file field.' },
  ZipInvalid: { status: 400, retryable: false, summary: 'The upload is not a readable zip archive.' },
  ZipTooLarge: { status: 400, retryable: false, summary: 'The archive, or what it unpacks to, is over the configured size limit.' },
  ZipTooManyEntries: { status: 400, retryable: false, summary: 'The archive holds more entries than the configured limit.' },
  ZipUnsafeEntry: { status: 400, retryable: false, summary: 'An entry has an absolute path, a `..` component or is a link.' },
  ZipMissingModule: { status: 400, retryable: false, summary: '`new_module.py` is not at the root of the archive.' },
  ZipMissingMain: { status: 400, retryable: false, summary: '`new_module.py` does not define a top-level `main` function.' },
  UnknownSecret: { status: 400, retryable: false, summary: "A function names a secret its project does not have (in `secrets`)." },
  UnknownEvent: { status: 400, retryable: false, summary: 'A function subscribes to an event its project does not have (in `subscriptions`).' },
  InvalidSubscription: { status: 400, retryable: false, summary: 'An entry of a function\'s `subscriptions` is neither an event\'s name nor a node subscription `{"path": "/app/config", "children": false}`: another shape, an unknown key, a path ZooKeeper would refuse, one path twice with different `children` (`details.index` names the entry).' },
  InvalidSchedule: { status: 400, retryable: false, summary: "A job's `pattern` is not a cron pattern (5 fields, or 6 with seconds first), its `timezone` not an IANA time zone, or it would never fire." },
  TrustInvalid: { status: 400, retryable: false, summary: "A function's OpenStack identity cannot be used: its Keystone trust is gone or revoked (a request's error), or cannot be made (`openstack_auth` at create or update)." },
  WorkflowInvalid: { status: 400, retryable: false, summary: 'A workflow document (FaaSr JSON) or its code is refused: the message names the problem (a cycle, an unknown action or data store, a FunctionName the code does not define, ...).' },
  ZipBadRequirements: { status: 400, retryable: false, summary: '`requirements.txt` is not plain text or holds pip options.' },
  // 401/403: who you are and what you may do.
  Unauthorized: { status: 401, retryable: false, summary: 'No valid token was given: missing, malformed, expired or revoked; `WWW-Authenticate` names the Keystone to get one from.' },
  Forbidden: { status: 403, retryable: false, summary: 'The token is valid but its roles do not allow this.' },
  NetworkNotAllowed: { status: 403, retryable: false, summary: 'A function asked for `network`, and the operator does not allow it: `[runner] network` is `none`, or the policy rule `function:network` denies the caller.' },
  // 404/405/409/413/415: the thing asked for.
  NotFound: { status: 404, retryable: false, summary: 'No such route.' },
  FunctionNotFound: { status: 404, retryable: false, summary: 'No function with that id is visible to the caller.' },
  RequestNotFound: { status: 404, retryable: false, summary: 'No request with that id is visible to the caller.' },
  SecretNotFound: { status: 404, retryable: false, summary: "The caller's project has no secret of that name." },
  JobNotFound: { status: 404, retryable: false, summary: 'No job (timer) with that id is visible to the caller.' },
  EventNotFound: { status: 404, retryable: false, summary: "The caller's project has no event of that name." },
  EventExists: { status: 409, retryable: false, summary: 'The project has an event of that name already.' },
  EventInUse: { status: 409, retryable: false, summary: 'Functions subscribe to the event; it cannot be deleted until they no longer do (`details.functions` lists them).' },
  VersionNotFound: { status: 404, retryable: false, summary: 'The function has no published version of that number (a call, an alias or its `weights` named it).' },
  AliasNotFound: { status: 404, retryable: false, summary: 'The function has no alias of that name.' },
  AliasExists: { status: 409, retryable: false, summary: 'The function has an alias of that name already; move it with PATCH.' },
  VersionInUse: { status: 409, retryable: false, summary: 'An alias targets the version, or a job or subscription runs it (`details.aliases`, `details.jobs`, `details.subscriptions` list them); it cannot be deleted until none does.' },
  AliasInUse: { status: 409, retryable: false, summary: 'A job or subscription runs the alias (`details.jobs`, `details.subscriptions` list them); it cannot be deleted until none does.' },
  SecretExists: { status: 409, retryable: false, summary: 'The project has a secret of that name already; change its value with PUT.' },
  SecretInUse: { status: 409, retryable: false, summary: 'Functions name the secret; it cannot be deleted until they no longer do (`details.functions` lists them).' },
  RunnerNotFound: { status: 404, retryable: false, summary: 'No runner with that id has a heartbeat in the database.' },
  WorkflowNotFound: { status: 404, retryable: false, summary: 'No workflow with that id is visible to the caller.' },
  InvocationNotFound: { status: 404, retryable: false, summary: 'No invocation with that id of that workflow is visible to the caller.' },
  WorkflowNameTaken: { status: 409, retryable: false, summary: 'The project already has a workflow of that WorkflowName.' },
  InvocationExists: { status: 409, retryable: false, summary: 'The workflow already has an invocation of that InvocationID (or its log folder exists in the logging data store).' },
  InvocationFinished: { status: 409, retryable: false, summary: 'The invocation has ended already; it cannot be cancelled.' },
  RuntimeExists: { status: 409, retryable: false, summary: 'A runtime of that name exists already.' },
  RuntimeInUse: { status: 409, retryable: false, summary: 'Functions use the runtime; it cannot be deleted.' },
  RuntimeNotFound: { status: 400, retryable: false, summary: 'The function names a runtime that does not exist.' },
  MethodNotAllowed: { status: 405, retryable: false, summary: 'The route exists but not for this HTTP method.' },
  FunctionNameTaken: { status: 409, retryable: false, summary: 'The project already has a function of that name.' },
  RequestAlreadyFinished: { status: 409, retryable: false, summary: 'The request has a final status already; it cannot be cancelled.' },
  RequestNotDeadLettered: { status: 409, retryable: false, summary: 'The request is not dead-lettered; only a dead-lettered request can be redriven.' },
  FunctionNotReady: { status: 409, retryable: false, summary: "The function's image failed to build; update or recreate it." },
  PayloadTooLarge: { status: 413, retryable: false, summary: 'The body is over the configured size limit.' },
  TooManyRequests: { status: 429, retryable: true, summary: "A public function's webhook, or `POST /v1/auth/tokens` from one address, was called more often than its rate limit allows; `Retry-After` says when to call again." },
  // Coordination (ZooKeeper's names for its errors).
  BadArguments: { status: 400, retryable: false, summary: 'A coordination call has a path ZooKeeper would refuse (relative, `//`, `.`, `..`, control characters, over 512 characters) or arguments that do not fit together (an ephemeral node without a session, a watch without one, deleting `/`).' },
  NoNode: { status: 404, retryable: false, summary: "No coordination node at that path (or, for a create, at its parent): ZooKeeper's NoNode." },
  NodeExists: { status: 409, retryable: false, summary: "A coordination node exists at that path already: ZooKeeper's NodeExists." },
  BadVersion: { status: 409, retryable: false, summary: "A set, delete or check named a version the node no longer has: ZooKeeper's BadVersion (`details.version` is the current one)." },
  NotEmpty: { status: 409, retryable: false, summary: "A coordination node with children cannot be deleted: ZooKeeper's NotEmpty." },
  NoChildrenForEphemerals: { status: 409, retryable: false, summary: "An ephemeral coordination node cannot have children: ZooKeeper's NoChildrenForEphemerals." },
  SessionExpired: { status: 410, retryable: false, summary: 'The coordination session has expired or was closed: its ephemeral nodes and watches are gone; open a new one.' },
  CoordinationUnsupported: { status: 501, retryable: false, summary: 'The configured database cannot hold coordination nodes (MongoDB): use SQLite, MariaDB or PostgreSQL.' },
  // 5xx that report the function's outcome to a caller who waited for it.
  FunctionFailed: { status: 502, retryable: false, summary: 'A webhook caller waited, and the function failed: `details` holds the request id and its error.' },
  FunctionTimedOut: { status: 504, retryable: false, summary: "A webhook caller waited, and the function ran past its timeout." },
  // 5xx: ours.
  WorkflowsUnavailable: { status: 501, retryable: false, summary: 'Workflows need a SQL database (SQLite, MariaDB, PostgreSQL); this deployment uses MongoDB.' },
  ServiceUnavailable: { status: 503, retryable: true, summary: 'A dependency (database, queue, Docker, Keystone) cannot be used right now.' },
  SecretKeyMissing: { status: 500, retryable: false, summary: 'A secret is encrypted under a key that `[secrets] keys` no longer holds: the operator must give that key back.' },
  ConsoleNotBuilt: { status: 503, retryable: false, summary: 'The console is served from dist/console, which `npm run build` makes; it was not built.' },
  InternalError: { status: 500, retryable: true, summary: 'An unexpected failure inside Pratai; the request id finds it in the logs.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error the platform means to show: a registered code and a message that names the problem. */
export class PrataiError extends Error {
  override readonly name = 'PrataiError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }
}

/**
 * Turns anything thrown into a PrataiError, so boundaries (HTTP handlers, queue consumers) handle
 * one type. Unknown throwables become InternalError; their text stays in the cause for the log.
 */
export function coerceError(thrown: unknown): PrataiError {
  if (thrown instanceof PrataiError) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new PrataiError('InternalError', `Internal error: ${message}`, { cause: thrown });
}

/** Describes a value for an argument error: ``got `"lots"` (string)``. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- JSON.stringify gives undefined here only for a function or a symbol, whose String() reads well
  const text = JSON.stringify(value) ?? String(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return `\`${shown}\` (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}
