/**
 * A FaaSr workflow document ("FaaSr 2.0" JSON) read and checked: its actions, the edges between
 * them (plain, ranked `name(N)`, or a True/False branch) and its data stores. What FaaSr refuses
 * is refused here (cycles, actions no path reaches, a ranked action with more than one
 * predecessor, a branch mixed with plain edges), and more: every action named in `InvokeNext`
 * exists and every data store named exists. ComputeServers and FaaSServer are accepted and ignored.
 */
import { PrataiError } from '../errors.js';

export const WORKFLOW_NAME = /^[a-zA-Z][a-zA-Z0-9-]*$/;
const PYTHON_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RANKED = /^([^()\s]+)\((\d+)\)$/;
/** Most instances one ranked action may start. */
export const MAX_RANK = 1000;

export interface DataStore {
  Endpoint: string;
  Bucket: string;
  Region: string;
  AccessKey?: string;
  SecretKey?: string;
  Writable: boolean;
  Anonymous: boolean;
}

/** One edge out of an action: to `to`, taken always or only on its branch. */
export interface Edge {
  to: string;
  branch: boolean | null;
}

export interface Action {
  name: string;
  functionName: string;
  arguments: Record<string, unknown>;
  /** How many instances it starts (ranks 1..N): N of `name(N)` in its predecessor's InvokeNext, else 1. */
  maxRank: number;
  next: Edge[];
  /** Whether its successors depend on its True/False result. */
  conditional: boolean;
}

/** A checked document: the raw JSON as given, and the graph read from it. */
export interface Workflow {
  document: Record<string, unknown>;
  name: string;
  first: string;
  actions: Map<string, Action>;
  predecessors: Map<string, string[]>;
  dataStores: Map<string, DataStore>;
  defaultDataStore: string;
  loggingDataStore: string;
  faasrLog: string;
  /** Packages per FunctionName (PyPIPackageDownloads). */
  packages: Map<string, string[]>;
}

const invalid = (message: string): PrataiError => new PrataiError('WorkflowInvalid', message);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function requireString(where: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(`Expected ${where} to be a non-empty string, got ${JSON.stringify(value) ?? 'nothing'}`);
  return value;
}

function readBool(where: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'TRUE' || value === 'True') return true;
  if (value === 'false' || value === 'FALSE' || value === 'False') return false;
  throw invalid(`Expected ${where} to be true or false, got ${JSON.stringify(value)}`);
}

function readDataStores(raw: unknown): Map<string, DataStore> {
  if (!isObject(raw) || Object.keys(raw).length === 0) throw invalid('Expected `DataStores` to be an object naming at least one data store');
  const stores = new Map<string, DataStore>();
  for (const [name, value] of Object.entries(raw)) {
    if (!isObject(value)) throw invalid(`Expected data store \`${name}\` to be an object`);
    const optional = (key: string): string | undefined => (value[key] === undefined || value[key] === '' ? undefined : requireString(`\`DataStores.${name}.${key}\``, value[key]));
    const accessKey = optional('AccessKey');
    const secretKey = optional('SecretKey');
    stores.set(name, {
      Endpoint: typeof value.Endpoint === 'string' ? value.Endpoint : '',
      Bucket: requireString(`\`DataStores.${name}.Bucket\``, value.Bucket),
      Region: typeof value.Region === 'string' && value.Region !== '' ? value.Region : 'us-east-1',
      ...(accessKey !== undefined && { AccessKey: accessKey }),
      ...(secretKey !== undefined && { SecretKey: secretKey }),
      Writable: readBool(`\`DataStores.${name}.Writable\``, value.Writable, true),
      Anonymous: readBool(`\`DataStores.${name}.Anonymous\``, value.Anonymous, false),
    });
  }
  return stores;
}

/** `name` or `name(N)`: the action and how many instances of it. */
function readTarget(from: string, raw: unknown): { to: string; rank: number } {
  const text = requireString(`each entry of \`ActionList.${from}.InvokeNext\``, raw).trim();
  const ranked = RANKED.exec(text);
  if (ranked === null) return { to: text, rank: 1 };
  const rank = Number(ranked[2]);
  if (!Number.isInteger(rank) || rank < 1 || rank > MAX_RANK) throw invalid(`Expected the rank in \`${text}\` (\`ActionList.${from}.InvokeNext\`) to be from 1 to ${MAX_RANK}`);
  return { to: ranked[1] as string, rank };
}

/** Reads and checks a document; throws WorkflowInvalid naming the first problem. */
export function readWorkflow(raw: unknown): Workflow {
  if (!isObject(raw)) throw invalid('Expected the workflow document to be a JSON object');
  const name = requireString('`WorkflowName`', raw.WorkflowName);
  if (!WORKFLOW_NAME.test(name)) throw invalid(`Expected \`WorkflowName\` to match ${WORKFLOW_NAME.source}, got \`${name}\``);
  const first = requireString('`FunctionInvoke`', raw.FunctionInvoke);
  if (!isObject(raw.ComputeServers)) throw invalid('Expected `ComputeServers` to be an object (Pratai ignores its contents)');
  const dataStores = readDataStores(raw.DataStores);
  const defaultDataStore = requireString('`DefaultDataStore`', raw.DefaultDataStore);
  const loggingDataStore = raw.LoggingDataStore === undefined || raw.LoggingDataStore === '' ? defaultDataStore : requireString('`LoggingDataStore`', raw.LoggingDataStore);
  for (const [field, store] of [['DefaultDataStore', defaultDataStore], ['LoggingDataStore', loggingDataStore]] as const) {
    if (!dataStores.has(store)) throw invalid(`\`${field}\` names the data store \`${store}\`, which \`DataStores\` does not define (it has ${[...dataStores.keys()].join(', ')})`);
  }
  if (raw.InvocationID !== undefined && raw.InvocationID !== '') requireString('`InvocationID`', raw.InvocationID);
  if (raw.InvocationIDFromDate !== undefined && raw.InvocationIDFromDate !== '') requireString('`InvocationIDFromDate`', raw.InvocationIDFromDate);
  const faasrLog = raw.FaaSrLog === undefined || raw.FaaSrLog === '' ? 'FaaSrLog' : requireString('`FaaSrLog`', raw.FaaSrLog);

  if (!isObject(raw.ActionList) || Object.keys(raw.ActionList).length === 0) throw invalid('Expected `ActionList` to be an object of at least one action');
  const actions = new Map<string, Action>();
  const rankOf = new Map<string, number>();
  for (const [actionName, value] of Object.entries(raw.ActionList)) {
    if (!isObject(value)) throw invalid(`Expected action \`${actionName}\` to be an object`);
    if (RANKED.test(actionName) || /[/\s]/.test(actionName)) throw invalid(`Expected an action name without spaces, slashes nor a rank, got \`${actionName}\``);
    const functionName = requireString(`\`ActionList.${actionName}.FunctionName\``, value.FunctionName);
    if (!PYTHON_IDENTIFIER.test(functionName)) throw invalid(`Expected \`ActionList.${actionName}.FunctionName\` to be a Python identifier, got \`${functionName}\``);
    if (value.Type !== undefined && value.Type !== 'Python') throw invalid(`Expected \`ActionList.${actionName}.Type\` to be \`Python\` (the only type Pratai runs), got ${JSON.stringify(value.Type)}`);
    const args = value.Arguments ?? {};
    if (!isObject(args)) throw invalid(`Expected \`ActionList.${actionName}.Arguments\` to be an object`);
    const rawNext = value.InvokeNext ?? [];
    const entries = Array.isArray(rawNext) ? rawNext : [rawNext];
    const next: Edge[] = [];
    let branches = 0;
    for (const entry of entries) {
      if (isObject(entry)) {
        branches += 1;
        for (const [key, targets] of Object.entries(entry)) {
          if (key !== 'True' && key !== 'False') throw invalid(`Expected the keys of a branch in \`ActionList.${actionName}.InvokeNext\` to be True and False, got \`${key}\``);
          for (const target of Array.isArray(targets) ? targets : [targets]) {
            const { to, rank } = readTarget(actionName, target);
            next.push({ to, branch: key === 'True' });
            rankOf.set(to, Math.max(rankOf.get(to) ?? 1, rank));
          }
        }
      } else {
        const { to, rank } = readTarget(actionName, entry);
        next.push({ to, branch: null });
        rankOf.set(to, Math.max(rankOf.get(to) ?? 1, rank));
      }
    }
    if (branches > 1) throw invalid(`\`ActionList.${actionName}.InvokeNext\` holds more than one True/False branch; expected at most one`);
    if (branches === 1 && next.some((edge) => edge.branch === null)) {
      throw invalid(`\`ActionList.${actionName}.InvokeNext\` mixes a True/False branch with plain successors; expected either`);
    }
    actions.set(actionName, { name: actionName, functionName, arguments: args, maxRank: 1, next, conditional: branches === 1 });
  }
  if (!actions.has(first)) throw invalid(`\`FunctionInvoke\` names the action \`${first}\`, which \`ActionList\` does not define`);

  const predecessors = new Map<string, string[]>([...actions.keys()].map((key) => [key, []]));
  for (const action of actions.values()) {
    for (const edge of action.next) {
      const preds = predecessors.get(edge.to);
      if (preds === undefined) throw invalid(`\`ActionList.${action.name}.InvokeNext\` names the action \`${edge.to}\`, which \`ActionList\` does not define`);
      if (edge.to === first) throw invalid(`\`ActionList.${action.name}.InvokeNext\` names \`${first}\`, the first action (\`FunctionInvoke\`): that is a cycle`);
      if (!preds.includes(action.name)) preds.push(action.name);
    }
  }
  for (const [actionName, rank] of rankOf) {
    const action = actions.get(actionName) as Action;
    action.maxRank = rank;
    const preds = predecessors.get(actionName) ?? [];
    if (rank > 1 && preds.length > 1) {
      throw invalid(`Action \`${actionName}\` is ranked (${actionName}(${rank})) and has ${preds.length} predecessors (${preds.join(', ')}); a ranked action may have only one`);
    }
  }
  checkAcyclic(actions, first);
  const reached = reachable(actions, first);
  const unreached = [...actions.keys()].filter((key) => !reached.has(key));
  if (unreached.length > 0) throw invalid(`No path from \`${first}\` (\`FunctionInvoke\`) reaches the action(s) ${unreached.map((a) => `\`${a}\``).join(', ')}`);

  return { document: raw, name, first, actions, predecessors, dataStores, defaultDataStore, loggingDataStore, faasrLog, packages: readPackages(raw.PyPIPackageDownloads) };
}

function readPackages(raw: unknown): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  if (raw === undefined || raw === null) return packages;
  if (!isObject(raw)) throw invalid('Expected `PyPIPackageDownloads` to be an object of FunctionName: package or list of packages');
  for (const [fn, value] of Object.entries(raw)) {
    const list = (Array.isArray(value) ? value : [value]).filter((entry) => entry !== '');
    for (const entry of list) {
      if (typeof entry !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?\s*([<>=!~]=?\s*[A-Za-z0-9.*+!_-]+\s*,?\s*)*$/.test(entry)) {
        throw invalid(`Expected \`PyPIPackageDownloads.${fn}\` to hold package requirements such as \`numpy\` or \`numpy==1.26.4\`, got ${JSON.stringify(entry)}`);
      }
    }
    packages.set(fn, list as string[]);
  }
  return packages;
}

function checkAcyclic(actions: Map<string, Action>, first: string): void {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'open') throw invalid(`The actions form a cycle: ${[...path.slice(path.indexOf(name)), name].join(' -> ')}`);
    state.set(name, 'open');
    for (const edge of actions.get(name)?.next ?? []) visit(edge.to, [...path, name]);
    state.set(name, 'done');
  };
  visit(first, []);
  for (const name of actions.keys()) visit(name, []);
}

function reachable(actions: Map<string, Action>, first: string): Set<string> {
  const seen = new Set<string>([first]);
  const todo = [first];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    for (const edge of actions.get(name)?.next ?? []) {
      if (!seen.has(edge.to)) {
        seen.add(edge.to);
        todo.push(edge.to);
      }
    }
  }
  return seen;
}
