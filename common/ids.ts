import { randomUUID } from 'node:crypto';

/**
 * A new id in OpenStack's form: 32 lowercase hex characters, a UUID without dashes. It is a
 * version 7 UUID (RFC 9562): the first 48 bits are the time in milliseconds, the rest random (74
 * bits). Ids made close in time are close in every index keyed by them: a new request's row goes
 * into the newest pages of its primary key (a B-tree, or MariaDB's clustered table) instead of a
 * random page each, and the database writes the same few pages for a burst of requests.
 * Made from a random version 4 UUID (Node pools its randomness) with its first 13 digits replaced.
 */
export const newId = (): string => `${Date.now().toString(16).padStart(12, '0')}7${randomUUID().replaceAll('-', '').slice(13)}`;

/** The value of an x-openstack-request-id header: `req-` and a UUID. */
export const newRequestId = (): string => `req-${randomUUID()}`;

export const isId = (value: string): boolean => /^[0-9a-f]{32}$/.test(value);

export const now = (): string => new Date().toISOString();
