/**
 * A function's context and the names of its secrets, as a caller gives them: the context as a
 * JSON object of strings or as a context file of `KEY=value` lines (FaaSpot's), the secrets as a
 * JSON array or a comma-separated list. The API checks them with these (a refusal is a 400
 * InvalidParameter naming the problem), and the CLI reads a context file with them too.
 *
 * Messages never repeat a context value, nor a line of a context file: people put credentials in
 * them, and messages reach logs.
 */
import { PrataiError, describeValue } from './errors.js';
import { SECRET_NAME } from './domain.js';
import { qualified, splitQualified } from './qualifier.js';

/** Most bytes a function's context takes, as JSON: 64 KiB. */
export const MAX_CONTEXT_BYTES = 64 * 1024;
/** Most secrets one function names. */
export const MAX_FUNCTION_SECRETS = 100;
/** A context key: an identifier, as an environment variable's name. */
const CONTEXT_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const KEY_HINT = 'letters, digits and `_`, not starting with a digit, at most 128 characters';

const invalid = (message: string): PrataiError => new PrataiError('InvalidParameter', message);

/**
 * Reads a context file: `KEY=value` lines (spaces around `=` allowed, a value in matching double
 * or single quotes taken without them, `export ` before a key ignored); blank lines and lines
 * starting with `#` skipped. A line that is none of these is refused, naming its number.
 */
export function parseContextFile(text: string): Record<string, string> {
  const context: Record<string, string> = {};
  const setAt = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const number = index + 1;
    if (line === '' || line.startsWith('#')) return;
    const equals = line.indexOf('=');
    if (equals < 0) throw invalid(`Line ${number} of the context file has no \`=\`: expected KEY=value lines, blank lines and # comments`);
    const key = line.slice(0, equals).trim().replace(/^export\s+/, '');
    if (!CONTEXT_KEY.test(key)) throw invalid(`Line ${number} of the context file: expected a key before \`=\` (${KEY_HINT})`);
    const earlier = setAt.get(key);
    if (earlier !== undefined) throw invalid(`Line ${number} of the context file sets \`${key}\` again (line ${earlier} set it first)`);
    let value = line.slice(equals + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    setAt.set(key, number);
    context[key] = value;
  });
  return checkSize(context);
}

/** A context as given in a request: a JSON object of strings, or text (JSON of one, or a context file). */
export function readContext(value: unknown): Record<string, string> {
  if (typeof value === 'string') {
    if (!value.trimStart().startsWith('{')) return parseContextFile(value);
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      // JSON.parse's message quotes the text: not repeated here.
      throw invalid('Expected `context` to be a JSON object of strings or a context file of KEY=value lines; it starts with `{` but is not valid JSON');
    }
    return readContext(parsed);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`Expected \`context\` to be a JSON object of strings or a context file of KEY=value lines, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`);
  }
  const context: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (!CONTEXT_KEY.test(key)) throw invalid(`Expected every key of \`context\` to be ${KEY_HINT}, got ${describeValue(key)}`);
    if (typeof item !== 'string') throw invalid(`Expected \`context.${key}\` to be a string, got ${item === null ? 'null' : Array.isArray(item) ? 'an array' : `a ${typeof item}`}`);
    context[key] = item;
  }
  return checkSize(context);
}

function checkSize(context: Record<string, string>): Record<string, string> {
  const bytes = Buffer.byteLength(JSON.stringify(context));
  if (bytes > MAX_CONTEXT_BYTES) throw invalid(`Expected \`context\` to take at most ${MAX_CONTEXT_BYTES} bytes as JSON, got ${bytes} bytes`);
  return context;
}

/**
 * The secret names a function is given, or the events it subscribes to (each `EVENT` or
 * `EVENT:QUALIFIER`, common/qualifier.ts): a JSON array of names, or (as a multipart field) names
 * separated by commas, or the field repeated; each named once, in the order given.
 */
export function readNames(field: 'secrets' | 'subscriptions', value: unknown): string[] {
  const what = field === 'secrets' ? 'secret' : 'event';
  let names: unknown[];
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.startsWith('[')) {
      try {
        names = JSON.parse(text) as unknown[];
      } catch {
        throw invalid(`Expected \`${field}\` to be a JSON array of ${what} names or names separated by commas; it starts with \`[\` but is not valid JSON`);
      }
      if (!Array.isArray(names)) throw invalid(`Expected \`${field}\` to be a JSON array of ${what} names`);
    } else {
      names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
    }
  } else if (Array.isArray(value)) {
    names = value.flatMap((item: unknown) => (typeof item === 'string' ? item.split(',').map((name) => name.trim()).filter((name) => name !== '') : [item]));
  } else {
    throw invalid(`Expected \`${field}\` to be a JSON array of ${what} names or names separated by commas, got ${describeValue(value)}`);
  }
  for (const name of names) {
    // A subscription may run a version or an alias of the function: EVENT:QUALIFIER.
    const bare = field === 'subscriptions' && typeof name === 'string' ? splitQualified(field, name).name : name;
    if (typeof bare !== 'string' || !SECRET_NAME.pattern.test(bare)) throw invalid(`Expected every name in \`${field}\` to be ${SECRET_NAME.hint}${field === 'subscriptions' ? ' (and then `:` and a version number or alias name, to run that one)' : ''}, got ${describeValue(name)}`);
  }
  const unique = [...new Set((names as string[]).map((name) => (field === 'subscriptions' ? normalSubscription(name) : name)))];
  if (field === 'subscriptions') {
    const events = unique.map((entry) => splitQualified(field, entry).name);
    const twice = events.find((event, i) => events.indexOf(event) !== i);
    if (twice !== undefined) throw invalid(`Expected \`subscriptions\` to name each event once, got \`${twice}\` twice`);
  }
  if (unique.length > MAX_FUNCTION_SECRETS) throw invalid(`Expected \`${field}\` to name at most ${MAX_FUNCTION_SECRETS} ${what}s, got ${unique.length}`);
  return unique;
}

export const readSecretNames = (value: unknown): string[] => readNames('secrets', value);

/** A subscription as stored: `EVENT`, or `EVENT:QUALIFIER` (`EVENT:latest` is `EVENT`). */
function normalSubscription(entry: string): string {
  const { name, qualifier } = splitQualified('subscriptions', entry);
  return qualified(name, qualifier);
}
