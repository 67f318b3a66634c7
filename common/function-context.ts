/**
 * A function's context, the names of its secrets and what it subscribes to, as a caller gives
 * them: the context as a JSON object of strings or as a context file of `KEY=value` lines
 * (FaaSpot's), the secrets and subscriptions as a JSON array or a comma-separated list. The API
 * checks them with these (a refusal is a 400 InvalidParameter, or InvalidSubscription, naming the
 * problem), and the CLI reads a context file with them too.
 *
 * Messages never repeat a context value, nor a line of a context file: people put credentials in
 * them, and messages reach logs.
 */
import { PrataiError, describeValue } from './errors.js';
import { MAX_NODE_SUBSCRIPTIONS, readNodeSubscription } from './coordination/triggers.js';
import { SECRET_NAME, type FunctionSubscription, type NodeSubscription } from './domain.js';
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
 * The entries of a list a caller gives: a JSON array, or (as a multipart field) entries separated
 * by commas, or the field repeated. `objects`: an entry may also be a JSON object, as text
 * starting with `{` (a field of its own, or the whole field).
 */
function entriesOf(field: string, what: string, value: unknown, objects: boolean): unknown[] {
  const parsed = (text: string, open: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw invalid(`Expected \`${field}\` to be a JSON array of ${what} or names separated by commas; it starts with \`${open}\` but is not valid JSON`);
    }
  };
  const split = (text: string): unknown[] => {
    const trimmed = text.trim();
    if (objects && trimmed.startsWith('{')) return [parsed(trimmed, '{')];
    return trimmed.split(',').map((name) => name.trim()).filter((name) => name !== '');
  };
  if (typeof value === 'string') {
    if (!value.trim().startsWith('[')) return split(value);
    const list = parsed(value.trim(), '[');
    if (!Array.isArray(list)) throw invalid(`Expected \`${field}\` to be a JSON array of ${what}`);
    return list as unknown[];
  }
  if (Array.isArray(value)) return value.flatMap((item: unknown) => (typeof item === 'string' ? split(item) : [item]));
  throw invalid(`Expected \`${field}\` to be a JSON array of ${what} or names separated by commas, got ${describeValue(value)}`);
}

const checkName = (field: string, name: unknown, shown: unknown = name, more = ''): string => {
  if (typeof name !== 'string' || !SECRET_NAME.pattern.test(name)) throw invalid(`Expected every name in \`${field}\` to be ${SECRET_NAME.hint}${more}, got ${describeValue(shown)}`);
  return name;
};

const atMost = (field: string, what: string, count: number, max: number): void => {
  if (count > max) throw invalid(`Expected \`${field}\` to name at most ${max} ${what}, got ${count}`);
};

/** The secret names a function is given: each named once, in the order given. */
export function readSecretNames(value: unknown): string[] {
  const unique = [...new Set(entriesOf('secrets', 'secret names', value, false).map((name) => checkName('secrets', name)))];
  atMost('secrets', 'secrets', unique.length, MAX_FUNCTION_SECRETS);
  return unique;
}

/**
 * What a function subscribes to: names of events, each `EVENT` or `EVENT:QUALIFIER` to run that
 * version or alias of it (common/qualifier.ts), and node subscriptions (`{"path": "/app/config",
 * "children": true}`, common/coordination/triggers.ts), in the order given, each once; an event
 * named twice with different qualifiers is refused (InvalidParameter), a path given twice with
 * different `children` too (InvalidSubscription), as is an entry of another shape. That the
 * events exist, and the versions and aliases named, the store checks as it stores them.
 */
export function readSubscriptions(value: unknown): FunctionSubscription[] {
  const subscriptions: FunctionSubscription[] = [];
  const names = new Map<string, string>();
  const paths = new Map<string, NodeSubscription>();
  entriesOf('subscriptions', 'event names and node subscriptions', value, true).forEach((entry, index) => {
    if (typeof entry === 'string' && entry.startsWith('/')) {
      throw new PrataiError('InvalidSubscription', `In \`subscriptions[${index}]\`: expected an event's name, got ${describeValue(entry)}, a node path: subscribe to a node with {"path": ${JSON.stringify(entry)}, "children": false}`, { details: { index } });
    }
    if (typeof entry === 'string') {
      const { name, qualifier } = splitQualified('subscriptions', entry);
      checkName('subscriptions', name, entry, ' (and then `:` and a version number or alias name, to run that one)');
      // Stored as `EVENT` or `EVENT:QUALIFIER` (`EVENT:latest` is `EVENT`).
      const normal = qualified(name, qualifier);
      const earlier = names.get(name);
      if (earlier === undefined) {
        names.set(name, normal);
        subscriptions.push(normal);
      } else if (earlier !== normal) {
        throw invalid(`Expected \`subscriptions\` to name each event once, got \`${name}\` twice`);
      }
      return;
    }
    const node = readNodeSubscription(entry, index);
    const earlier = paths.get(node.path);
    if (earlier === undefined) {
      paths.set(node.path, node);
      subscriptions.push(node);
    } else if (earlier.children !== node.children) {
      throw new PrataiError('InvalidSubscription', `In \`subscriptions[${index}]\`: node ${node.path} is subscribed to twice, with \`children\` ${String(earlier.children)} and ${String(node.children)}; give it once`, { details: { index } });
    }
  });
  atMost('subscriptions', 'events', names.size, MAX_FUNCTION_SECRETS);
  atMost('subscriptions', 'nodes', paths.size, MAX_NODE_SUBSCRIPTIONS);
  return subscriptions;
}

