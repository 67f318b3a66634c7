/** Coordination on the platform with a PostgreSQL store. */
import { coordinationPlatformSuite } from './coordination-platform.js';

coordinationPlatformSuite('postgres');
