/** A Python wheel made by hand, for tests of requirements.txt: no package index is reachable here. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AdmZip from 'adm-zip';

/** Writes `pratai_testdep` 1.0 (`VALUE = 42`) into `folder`, for pip --find-links. */
export function writeWheel(folder: string): void {
  const wheel = new AdmZip();
  const files: Record<string, string> = {
    'pratai_testdep/__init__.py': 'VALUE = 42\n',
    'pratai_testdep-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: pratai-testdep\nVersion: 1.0\n',
    'pratai_testdep-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nGenerator: pratai-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  files['pratai_testdep-1.0.dist-info/RECORD'] = `${Object.keys(files).map((name) => `${name},,`).join('\n')}\npratai_testdep-1.0.dist-info/RECORD,,\n`;
  for (const [name, content] of Object.entries(files)) wheel.addFile(name, Buffer.from(content));
  writeFileSync(join(folder, 'pratai_testdep-1.0-py3-none-any.whl'), wheel.toBuffer());
}
