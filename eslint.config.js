// Lint for the sources, tests and benchmarks: typescript-eslint's recommended rules (syntax only, no type
// information, so `npm test` stays fast), plus the few rules this codebase relies on. Layout is Prettier's job
// (.prettierrc.json); max-len catches the long strings and templates Prettier does not break.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'bundle/**',
      'src/**/*.gen.*',
      'out/**',
      'node_modules/**',
      '.tap/**',
      'docs/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        clearImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
        document: 'readonly',
        window: 'readonly',
      },
    },
    rules: {
      // Prettier lays code out at 120 columns; a string it cannot break may run to 160, no further.
      'max-len': ['error', { code: 160, ignoreUrls: true, ignoreRegExpLiterals: true }],
      // Wire codecs and terminal-output checks match control bytes on purpose.
      'no-control-regex': 'off',
      // Tests match the table output with its literal column spacing.
      'no-regex-spaces': 'off',
      eqeqeq: ['error', 'always'],
      'no-var': 'error',
      // A callback may read a variable that is assigned once, later (a listener's stop function).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
    },
  },
);
