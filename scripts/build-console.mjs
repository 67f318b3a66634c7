#!/usr/bin/env node
// Bundles the console (console/src, preact + htm) with esbuild into dist/console: index.html and
// content-hashed assets under assets/, which the API serves as immutable (api/console.ts). Run by
// `npm run build`; nothing is fetched at run time, so the console works offline.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const OUT = join(ROOT, 'dist', 'console');

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  entryPoints: [join(ROOT, 'console', 'src', 'main.js')],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  outdir: join(OUT, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const asset = (extension) => {
  const found = outputs.find((name) => name.startsWith('main-') && name.endsWith(extension));
  if (found === undefined) throw new Error(`esbuild wrote no main-*${extension}`);
  return `assets/${found}`;
};
const page = readFileSync(join(ROOT, 'console', 'index.html'), 'utf8').replace('{{JS}}', asset('.js')).replace('{{CSS}}', asset('.css'));
writeFileSync(join(OUT, 'index.html'), page);
