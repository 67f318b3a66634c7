/** Node subscriptions on the platform with a PostgreSQL store. */
import { nodeTriggersPlatformSuite } from './node-triggers-platform.js';

nodeTriggersPlatformSuite('postgres');
