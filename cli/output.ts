/**
 * Output as cliff (the framework of the OpenStack clients) prints it: a list command prints rows
 * under named columns, a show command one record as Field/Value; both in `-f table|json|yaml|
 * value|csv`, narrowed by `-c COLUMN`, with `--noindent`, `--max-width`, `--fit-width`,
 * `--sort-column`, `--print-empty` and `--quote` as cliff has them.
 */
import { type Command, Option } from 'commander';
import Table from 'cli-table3';
import { stringify as toYaml } from 'yaml';
import { usageError } from './errors.js';

export const FORMATS = ['table', 'json', 'yaml', 'value', 'csv'] as const;
export type Format = (typeof FORMATS)[number];
const QUOTING = ['all', 'minimal', 'none', 'nonnumeric'] as const;

export interface OutputOptions {
  format: Format;
  /** `-c`: the columns (or fields) to keep; empty keeps all. */
  columns: string[];
  noindent: boolean;
  /** Widest a table may be, in characters; 0 for no limit. */
  maxWidth: number;
  sortColumns: string[];
  sortDescending: boolean;
  quote: (typeof QUOTING)[number];
  printEmpty: boolean;
}

/**
 * A value with two faces: the data itself for json and yaml, and the text a person reads for
 * table, value and csv (a request's logs as lines rather than an array of records).
 */
export class Formatted {
  constructor(
    readonly machine: unknown,
    readonly human: string,
  ) {}
}

/** What a list command prints: rows of values under named columns. */
export interface Listing {
  columns: string[];
  rows: unknown[][];
}

/** What a show command prints: one record, field by field. */
export interface Shown {
  fields: string[];
  values: unknown[];
}

/** Adds the output options of a list (`kind: 'list'`) or show command, as cliff does. */
export function withOutputOptions(command: Command, kind: 'list' | 'show'): Command {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  command
    .addOption(new Option('-f, --format <format>', 'the output format').choices(FORMATS).default('table'))
    .addOption(new Option('-c, --column <column>', `specify the ${kind === 'list' ? 'column' : 'field'}(s) to include, can be repeated`).argParser(collect).default([]))
    .option('--noindent', 'whether to disable indenting the JSON', false)
    .addOption(new Option('--max-width <integer>', 'maximum display width of a table, 0 to disable').env('CLIFF_MAX_TERM_WIDTH').default('0'))
    .option('--fit-width', 'fit the table to the display width (implied by --max-width greater than 0)', false)
    .addOption(new Option('--quote <quoting>', 'when to quote csv values').choices(QUOTING).default('nonnumeric'));
  if (kind === 'list') {
    command
      .addOption(new Option('--sort-column <column>', 'specify the column(s) to sort the data by (columns given first take precedence), can be repeated').argParser(collect).default([]))
      .option('--sort-ascending', 'sort the column(s) in ascending order (the default)')
      .option('--sort-descending', 'sort the column(s) in descending order')
      .option('--print-empty', 'print an empty table if there is no data to show', false);
  }
  return command;
}

/** Reads the output options commander collected; `terminalWidth` serves `--fit-width`. */
export function outputOptionsOf(opts: Record<string, unknown>, terminalWidth: number | undefined): OutputOptions {
  const maxWidth = Number(opts.maxWidth ?? 0);
  if (!Number.isInteger(maxWidth)) throw usageError(`Expected --max-width to be an integer, got \`${String(opts.maxWidth)}\``);
  return {
    format: (opts.format as Format | undefined) ?? 'table',
    columns: (opts.column as string[] | undefined) ?? [],
    noindent: opts.noindent === true,
    maxWidth: maxWidth > 0 ? maxWidth : opts.fitWidth === true ? (terminalWidth ?? 0) : 0,
    sortColumns: (opts.sortColumn as string[] | undefined) ?? [],
    sortDescending: opts.sortDescending === true,
    quote: (opts.quote as OutputOptions['quote'] | undefined) ?? 'nonnumeric',
    printEmpty: opts.printEmpty === true,
  };
}

/** The text a person reads for a value, as the Python clients print it. */
export function humanText(value: unknown): string {
  if (value instanceof Formatted) return value.human;
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

const machineValue = (value: unknown): unknown => (value instanceof Formatted ? value.machine : value ?? null);

export function renderList(listing: Listing, options: OutputOptions): string {
  const keep = selectColumns(listing.columns, options.columns);
  const rows = sortRows(listing, options).map((row) => keep.map((index) => row[index]));
  const columns = keep.map((index) => listing.columns[index] as string);
  switch (options.format) {
    case 'table':
      return rows.length === 0 && !options.printEmpty ? '' : drawTable(columns, rows, options.maxWidth, true);
    case 'json':
    case 'yaml': {
      const objects = rows.map((row) => Object.fromEntries(columns.map((column, index) => [column, machineValue(row[index])])));
      return serialize(objects, options);
    }
    case 'value':
      return rows.map((row) => `${row.map(humanText).join(' ')}\n`).join('');
    case 'csv':
      return [columns, ...rows].map((row) => `${row.map((value) => csvField(value, options.quote)).join(',')}\n`).join('');
  }
}

export function renderOne(shown: Shown, options: OutputOptions): string {
  const keep = selectColumns(shown.fields, options.columns);
  const fields = keep.map((index) => shown.fields[index] as string);
  const values = keep.map((index) => shown.values[index]);
  switch (options.format) {
    case 'table':
      return drawTable(['Field', 'Value'], fields.map((field, index) => [field, values[index]]), options.maxWidth, false);
    case 'json':
    case 'yaml':
      return serialize(Object.fromEntries(fields.map((field, index) => [field, machineValue(values[index])])), options);
    case 'value':
      return values.map((value) => `${humanText(value)}\n`).join('');
    case 'csv':
      return [fields, values].map((row) => `${row.map((value) => csvField(value, options.quote)).join(',')}\n`).join('');
  }
}

function serialize(data: unknown, options: OutputOptions): string {
  if (options.format === 'yaml') return toYaml(data);
  return `${JSON.stringify(data, null, options.noindent ? undefined : 2)}\n`;
}

/** Indexes of the columns `-c` keeps, in the data's own order (as cliff keeps them). */
function selectColumns(available: string[], wanted: string[]): number[] {
  const all = available.map((_, index) => index);
  if (wanted.length === 0) return all;
  const unknown = wanted.filter((name) => !available.includes(name));
  const kept = all.filter((index) => wanted.includes(available[index] as string));
  if (unknown.length > 0 && kept.length === 0) {
    throw usageError(`No recognized column names in ${unknown.map((name) => `\`${name}\``).join(', ')}; recognized columns are ${available.join(', ')}`);
  }
  return kept;
}

function sortRows(listing: Listing, options: OutputOptions): unknown[][] {
  if (options.sortColumns.length === 0) return listing.rows;
  const indexes = options.sortColumns.map((name) => {
    const index = listing.columns.indexOf(name);
    if (index < 0) throw usageError(`Cannot sort by \`${name}\`: recognized columns are ${listing.columns.join(', ')}`);
    return index;
  });
  const direction = options.sortDescending ? -1 : 1;
  return [...listing.rows].sort((a, b) => {
    for (const index of indexes) {
      const order = compareValues(machineValue(a[index]), machineValue(b[index]));
      if (order !== 0) return order * direction;
    }
    return 0;
  });
}

/** Orders numbers as numbers, everything else by its text; missing values first. */
function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return humanText(a).localeCompare(humanText(b));
}

function csvField(value: unknown, quote: OutputOptions['quote']): string {
  const text = humanText(value);
  const numeric = typeof machineValue(value) === 'number';
  const needsQuotes = /[",\r\n]/.test(text);
  const quoted =
    quote === 'all' || (quote === 'nonnumeric' && !numeric) || (quote === 'minimal' && needsQuotes);
  if (quoted) return `"${text.replaceAll('"', '""')}"`;
  return quote === 'none' ? text.replace(/([",\r\n])/g, '\\$1') : text;
}

/** A prettytable-style ASCII table, its cells wrapped to fit `maxWidth`. */
function drawTable(headers: string[], rows: unknown[][], maxWidth: number, numbersRight: boolean): string {
  // As prettytable does, a column is aligned right when its values are numbers.
  const alignRight = headers.map((_, index) => numbersRight && rows.length > 0 && rows.every((row) => typeof machineValue(row[index]) === 'number'));
  const cells = rows.map((row) => row.map((value) => humanText(value).replace(/\r\n?/g, '\n')));
  const widths = columnWidths(headers, cells, maxWidth);
  const wrapTo = (text: string, index: number): string => (widths === undefined ? text : wrap(text, widths[index] as number));
  const table = new Table({
    head: headers.map(wrapTo),
    chars: {
      top: '-', 'top-mid': '+', 'top-left': '+', 'top-right': '+',
      bottom: '-', 'bottom-mid': '+', 'bottom-left': '+', 'bottom-right': '+',
      left: '|', 'left-mid': '+', mid: '-', 'mid-mid': '+',
      right: '|', 'right-mid': '+', middle: '|',
    },
    style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 },
  });
  for (const row of cells) {
    table.push(row.map((text, index) => ({ content: wrapTo(text, index), hAlign: alignRight[index] ? 'right' : 'left' })));
  }
  return `${table.toString()}\n`;
}

/**
 * Content widths that make the table fit `maxWidth`, or undefined when it fits already (or cannot
 * be made to: each column keeps at least a few characters). Columns narrower than a fair share
 * keep their width; the wide ones share what is left.
 */
function columnWidths(headers: string[], cells: string[][], maxWidth: number): number[] | undefined {
  const natural = headers.map((header, index) => Math.max(...[header, ...cells.map((row) => row[index] ?? '')].flatMap((text) => text.split('\n').map((line) => line.length))));
  const border = 3 * headers.length + 1;
  if (maxWidth <= 0 || natural.reduce((sum, width) => sum + width, 0) + border <= maxWidth) return undefined;
  let room = maxWidth - border;
  const widths = [...natural];
  let wide = natural.map((_, index) => index);
  for (;;) {
    const share = Math.floor(room / wide.length);
    const fitting = wide.filter((index) => (natural[index] as number) <= share);
    if (fitting.length === 0) {
      if (share < 4) return undefined;
      for (const index of wide) widths[index] = share;
      return widths;
    }
    for (const index of fitting) room -= natural[index] as number;
    wide = wide.filter((index) => !fitting.includes(index));
  }
}

/** Wraps text to `width` columns, at spaces where it can and anywhere where it must. */
function wrap(text: string, width: number): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let rest = line;
    while (rest.length > width) {
      const space = rest.lastIndexOf(' ', width);
      const cut = space > 0 ? space : width;
      out.push(rest.slice(0, cut).trimEnd());
      rest = rest.slice(space > 0 ? cut + 1 : cut);
    }
    out.push(rest);
  }
  return out.join('\n');
}
