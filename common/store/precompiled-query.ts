/**
 * Queries compiled once. Kysely builds and compiles a query's SQL every time it runs one, which on
 * the store's hottest paths (the webhook's function lookup and insert, a run's start and end) cost
 * more CPU than SQLite spent running them. A query built once with a placeholder in place of each
 * value, then compiled, is the same SQL for every call: only its parameters change, and they are
 * put in the placeholders' places.
 */
import type { Compilable, CompiledQuery, QueryResult } from 'kysely';

/** What stands for a value while the query is compiled; nothing a caller passes looks like it. */
const marker = (name: string): string => `\u0000pratai-parameter:${name}\u0000`;

/** Where a compiled parameter comes from: a call's value of that name, or a constant of the query itself. */
type Source<P> = { name: keyof P } | { constant: unknown };

/** What runs a compiled query: a Kysely instance. */
export interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

export class PrecompiledQuery<P extends object, R> {
  private readonly compiled: CompiledQuery<R>;
  private readonly sources: Source<P>[];

  /**
   * Compiles `build(placeholders)`, a query of `db`, which then runs it. `names` are the parameters
   * `build` uses; each must end up a parameter of the SQL (not inlined into its text), or this throws.
   */
  constructor(
    private readonly db: QueryRunner,
    names: readonly (keyof P & string)[],
    build: (parameters: P) => Compilable<R>,
  ) {
    const placeholders = Object.fromEntries(names.map((name) => [name, marker(name)])) as P;
    this.compiled = build(placeholders).compile();
    const byMarker = new Map<unknown, keyof P>(names.map((name) => [marker(name), name]));
    this.sources = this.compiled.parameters.map((value) => {
      const name = byMarker.get(value);
      return name === undefined ? { constant: value } : { name };
    });
    for (const name of names) {
      if (this.compiled.sql.includes(marker(name))) throw new Error(`Parameter ${name} was inlined into the SQL; it cannot be precompiled`);
      if (!this.sources.some((source) => 'name' in source && source.name === name)) throw new Error(`Parameter ${name} is not used by the query`);
    }
  }

  /** Runs the query with `values` in place of the placeholders; in `runner`, a transaction of the same database, when given. */
  execute(values: P, runner: QueryRunner = this.db): Promise<QueryResult<R>> {
    const parameters = this.sources.map((source) => ('name' in source ? values[source.name] : source.constant));
    // The query id only tells plugins' calls apart; the store uses no plugins.
    return runner.executeQuery<R>({ ...this.compiled, parameters });
  }
}
