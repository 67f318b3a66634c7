/**
 * What `--zip PATH` uploads: a zip file as it is (the server inspects it and says what is wrong),
 * or a folder holding `new_module.py` and `requirements.txt`, zipped here in memory.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { CliError } from './errors.js';

/** The files of a function's folder that go into its zip; nothing else does. */
const FUNCTION_FILES = ['new_module.py', 'requirements.txt'] as const;

export function readFunctionZip(path: string): Buffer {
  let isFolder: boolean;
  try {
    isFolder = statSync(path).isDirectory();
  } catch (error) {
    throw new CliError(`Cannot read --zip ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (error as Error).message}`, 1, { cause: error });
  }
  if (!isFolder) return readFileSync(path);
  const zip = new AdmZip();
  for (const name of FUNCTION_FILES) {
    let content: Buffer;
    try {
      content = readFileSync(join(path, name));
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      if (missing && name === 'requirements.txt') continue;
      throw new CliError(`Cannot zip the folder ${path}: ${missing ? 'it has no new_module.py, the module that defines main(payload)' : (error as Error).message}`, 1, { cause: error });
    }
    zip.addFile(name, content);
  }
  return zip.toBuffer();
}
