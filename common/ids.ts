import { randomUUID } from 'node:crypto';

/** A new id in OpenStack's form: 32 lowercase hex characters (a UUID4 without dashes). */
export const newId = (): string => randomUUID().replaceAll('-', '');

/** The value of an x-openstack-request-id header: `req-` and a UUID. */
export const newRequestId = (): string => `req-${randomUUID()}`;

export const isId = (value: string): boolean => /^[0-9a-f]{32}$/.test(value);

export const now = (): string => new Date().toISOString();
