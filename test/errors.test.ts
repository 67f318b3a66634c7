/** The error registry is part of the API: codes and statuses change only on purpose. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { coerceError, ERRORS, PrataiError } from '../common/errors.js';

test('the error codes and their HTTP statuses are pinned', () => {
  const pinned = Object.fromEntries(Object.entries(ERRORS).map(([code, spec]) => [code, [spec.status, spec.retryable]]));
  assert.deepEqual(pinned, {
    InvalidParameter: [400, false],
    InvalidJson: [400, false],
    PayloadMissing: [400, false],
    ZipMissing: [400, false],
    ZipInvalid: [400, false],
    ZipTooLarge: [400, false],
    ZipTooManyEntries: [400, false],
    ZipUnsafeEntry: [400, false],
    ZipMissingModule: [400, false],
    ZipMissingMain: [400, false],
    UnknownSecret: [400, false],
    UnknownEvent: [400, false],
    InvalidSubscription: [400, false],
    InvalidSchedule: [400, false],
    TrustInvalid: [400, false],
    WorkflowInvalid: [400, false],
    ZipBadRequirements: [400, false],
    Unauthorized: [401, false],
    Forbidden: [403, false],
    NetworkNotAllowed: [403, false],
    NotFound: [404, false],
    FunctionNotFound: [404, false],
    RequestNotFound: [404, false],
    SecretNotFound: [404, false],
    JobNotFound: [404, false],
    EventNotFound: [404, false],
    EventExists: [409, false],
    EventInUse: [409, false],
    VersionNotFound: [404, false],
    AliasNotFound: [404, false],
    AliasExists: [409, false],
    VersionInUse: [409, false],
    AliasInUse: [409, false],
    WorkflowNotFound: [404, false],
    InvocationNotFound: [404, false],
    WorkflowNameTaken: [409, false],
    InvocationExists: [409, false],
    InvocationFinished: [409, false],
    SecretExists: [409, false],
    SecretInUse: [409, false],
    RunnerNotFound: [404, false],
    RuntimeExists: [409, false],
    RuntimeInUse: [409, false],
    RuntimeNotFound: [400, false],
    MethodNotAllowed: [405, false],
    FunctionNameTaken: [409, false],
    RequestAlreadyFinished: [409, false],
    RequestNotDeadLettered: [409, false],
    FunctionNotReady: [409, false],
    PayloadTooLarge: [413, false],
    TooManyRequests: [429, true],
    BadArguments: [400, false],
    NoNode: [404, false],
    NodeExists: [409, false],
    BadVersion: [409, false],
    NotEmpty: [409, false],
    NoChildrenForEphemerals: [409, false],
    SessionExpired: [410, false],
    CoordinationUnsupported: [501, false],
    FunctionFailed: [502, false],
    FunctionTimedOut: [504, false],
    WorkflowsUnavailable: [501, false],
    ServiceUnavailable: [503, true],
    SecretKeyMissing: [500, false],
    ConsoleNotBuilt: [503, false],
    InternalError: [500, true],
  });
});

test('docs/errors.md lists every code with its status and retryable flag', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.ok(doc.includes(`| \`${code}\` | ${spec.status} | ${spec.retryable ? 'yes' : 'no'} |`), `docs/errors.md lacks ${code}`);
  }
});

test('an unknown throwable becomes an InternalError that keeps it as the cause', () => {
  const cause = new TypeError('boom');
  const error = coerceError(cause);
  assert.equal(error.code, 'InternalError');
  assert.equal(error.status, 500);
  assert.equal(error.cause, cause);
  const known = new PrataiError('FunctionNotFound', 'x');
  assert.equal(coerceError(known), known);
});
