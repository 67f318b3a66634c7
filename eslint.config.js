// ESLint flat config. Lints what review misses (STYLE.md, Tooling): floating
// promises and one folder reaching into another it must not know about.
// Type-aware rules read tsconfig.test.json, which covers test/ too. Import
// cycles are found by madge (`npm run lint`): eslint-plugin-import-x pulls in a
// native resolver whose per-platform packages npm leaves out of the lockfile,
// which breaks `npm ci` on a fresh machine.
import js from '@eslint/js';
import globals from 'globals';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * A `no-restricted-imports` rule forbidding relative imports that climb out of
 * `folder` into one of the `forbidden` top-level folders (`../api/x.js`,
 * `../../runner/x.js`). Only relative specifiers match, so a package such as
 * `@opentelemetry/api` is never caught by accident.
 */
function boundary(folder, forbidden, why) {
  return {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(?:\\.\\./)+(?:${forbidden.join('|')})(?:/|$)`,
            message: `${folder}/ must not import from ${forbidden.join('/, ')}/: ${why}`,
          },
        ],
      },
    ],
  };
}

const TS_FILES = ['**/*.ts'];

export default defineConfig(
  {
    ignores: ['dist/**', 'node_modules/**', '.pratai-state/**', 'var/**'],
  },
  {
    // A disable comment that no longer disables anything is stale: fail on it.
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },

  js.configs.recommended,

  // Type-aware rules for all TypeScript: the sources and test/.
  {
    files: TS_FILES,
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.test.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        // `import { x, type T }` is how the code base already writes mixed
        // imports; forcing a second `import type` line adds noise, not safety.
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      // Off: an `async` method with no `await` is how this code base implements
      // a Promise-returning port (JobQueue.publish, Authenticator.authenticate,
      // a kysely MigrationProvider): `async` turns a synchronous throw into a
      // rejection, which is what callers of the port handle. Dropping `async`
      // to please the rule would change that.
      '@typescript-eslint/require-await': 'off',
      // Passing on a caught `unknown` (`catch (error) { reject(error) }`) is
      // the normal way to forward a failure; only-throw-error allows the same
      // for `throw` by default.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
    },
  },

  // Folder boundaries. server/ and bin/ wire everything together and may
  // import anything; test/ may too.
  {
    files: ['common/**/*.ts'],
    rules: boundary('common', ['api', 'runner', 'server', 'cli', 'bin'], 'it is shared by every process'),
  },
  {
    files: ['api/**/*.ts'],
    rules: boundary('api', ['runner', 'server', 'cli', 'bin'], 'the API never talks to containers; share through common/'),
  },
  {
    files: ['runner/**/*.ts'],
    rules: boundary('runner', ['api', 'server', 'cli', 'bin'], 'share through common/'),
  },
  {
    files: ['cli/**/*.ts'],
    rules: boundary('cli', ['api', 'runner', 'server', 'bin'], 'the CLI talks to the API over HTTP'),
  },

  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read HTTP JSON bodies (test/helpers/platform.ts `Json.body`) and
      // poke at them freely; a wrong guess there fails the test, it cannot
      // reach production. `no-explicit-any` stays on: a test file that wants
      // `any` says so at its top, with a reason.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // node:test's describe()/it()/test() (and their .skip/.todo/.only)
      // return promises that the runner itself awaits; awaiting them in the
      // test file is neither needed nor usual.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'skip', 'todo', 'only'] },
          ],
        },
      ],
      // The allowance above also covers the subtest method `t.test()` (same
      // name, same package), which must be awaited or the parent may end
      // first and cancel it: catch that one by shape instead.
      'no-restricted-syntax': [
        'error',
        {
          selector: "ExpressionStatement > CallExpression[callee.type='MemberExpression'][callee.property.name='test']",
          message: 'Await a subtest: `await t.test(...)`, or the parent test may end first and cancel it.',
        },
      ],
    },
  },

  // The console's sources run in the browser (bundled by scripts/build-console.mjs).
  {
    files: ['console/**/*.js'],
    languageOptions: { globals: globals.browser },
  },

  // Plain JavaScript (this file, scripts/): Node globals, no type information.
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ignores: ['console/**'],
    languageOptions: {
      globals: globals.node,
    },
  },
);
