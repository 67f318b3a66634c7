/** Node subscriptions on the all-in-one platform with an SQLite store; the CLI's side too. */
import { nodeTriggersPlatformSuite } from './node-triggers-platform.js';

nodeTriggersPlatformSuite('sqlite', { cli: true });
