/**
 * Pratai's entry in a Keystone service catalog: service type `function-engine`, with public and
 * internal (and optionally admin) endpoints, so that clients find Pratai from their token alone.
 * Registering is idempotent: what exists is kept, a changed URL is updated.
 */
import { PrataiError } from '../errors.js';
import type { KeystoneSession } from './client.js';

/** Pratai's service type in a Keystone catalog. */
export const SERVICE_TYPE = 'function-engine';

export interface ServiceRegistration {
  /** The service's name in the catalog. Default `pratai`. */
  name?: string;
  region: string;
  /** Endpoint URLs by interface; the unversioned API root (`https://pratai.example.org:9998`). */
  urls: Partial<Record<'public' | 'internal' | 'admin', string>>;
}

export interface RegisteredEndpoint {
  interface: string;
  url: string;
  change: 'created' | 'updated' | 'unchanged';
}

type Listed<K extends string, T> = Record<K, T[]>;
interface Service { id: string; type: string; name?: string }
interface Endpoint { id: string; interface: string; region_id: string | null; url: string }

/** Creates or updates the service and its endpoints; needs a token with Keystone's admin role. */
export async function registerService(session: KeystoneSession, registration: ServiceRegistration): Promise<{ serviceId: string; endpoints: RegisteredEndpoint[] }> {
  for (const [iface, url] of Object.entries(registration.urls)) {
    if (!/^https?:\/\/[^/]/.test(url)) throw new PrataiError('InvalidParameter', `Expected the ${iface} URL to be an http(s) URL, got \`${url}\``);
  }
  const call = <T>(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<T> =>
    session.call(async (token) => (await session.client.request<T>(method, path, { token, body, ...(query && { query }) })).body);

  const services = await call<Listed<'services', Service>>('GET', '/services', undefined, { type: SERVICE_TYPE });
  const serviceId =
    services.services[0]?.id ??
    (await call<{ service: Service }>('POST', '/services', { service: { type: SERVICE_TYPE, name: registration.name ?? 'pratai', description: 'Pratai: asynchronous functions', enabled: true } })).service.id;

  const regionExists = await call('GET', `/regions/${encodeURIComponent(registration.region)}`).then(
    () => true,
    (error: unknown) => {
      if (error instanceof PrataiError && error.details?.keystone_status === 404) return false;
      throw error;
    },
  );
  if (!regionExists) await call('POST', '/regions', { region: { id: registration.region } });

  const endpoints: RegisteredEndpoint[] = [];
  for (const [iface, url] of Object.entries(registration.urls)) {
    const listed = await call<Listed<'endpoints', Endpoint>>('GET', '/endpoints', undefined, { service_id: serviceId, interface: iface });
    const existing = listed.endpoints.find((endpoint) => endpoint.region_id === registration.region);
    if (existing === undefined) {
      await call('POST', '/endpoints', { endpoint: { service_id: serviceId, interface: iface, url, region_id: registration.region, enabled: true } });
      endpoints.push({ interface: iface, url, change: 'created' });
    } else if (existing.url !== url) {
      await call('PATCH', `/endpoints/${existing.id}`, { endpoint: { url } });
      endpoints.push({ interface: iface, url, change: 'updated' });
    } else {
      endpoints.push({ interface: iface, url, change: 'unchanged' });
    }
  }
  return { serviceId, endpoints };
}
