/** A function's zip made in the browser from what the editor holds (fflate, no server round trip). */
import { strToU8, zipSync } from 'fflate';

export function functionZip(module, requirements) {
  return new Blob([zipSync({ 'new_module.py': strToU8(module), 'requirements.txt': strToU8(requirements) })], { type: 'application/zip' });
}
