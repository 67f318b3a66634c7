/** Coordination on the all-in-one platform with its embedded SQLite store. */
import { coordinationPlatformSuite } from './coordination-platform.js';

coordinationPlatformSuite('sqlite');
