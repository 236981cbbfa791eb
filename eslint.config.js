'use strict';
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const globals = require('globals');
const layers = require('./scripts/lint-layers');

// Mini-program globals (the runtime provides them; miniprogram-api-typings declares their types).
const miniprogramGlobals = {
  wx: 'readonly',
  App: 'readonly',
  Page: 'readonly',
  Component: 'readonly',
  Behavior: 'readonly',
  getApp: 'readonly',
  getCurrentPages: 'readonly',
};

module.exports = tseslint.config(
  {
    ignores: ['node_modules/', 'miniprogram/**/miniprogram_npm/', 'cloudfunctions/', '.sandbox/', '.tmp/', 'coverage/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      complexity: ['error', 15],
      'max-depth': ['error', 4],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The layer map (scripts/lint-layers.js): every import checked against what its folder may import.
    files: ['miniprogram/**/*.ts', 'server/**/*.ts', 'sandbox/**/*.ts', 'scripts/**/*.ts'],
    plugins: { layers: layers.plugin },
    rules: { 'layers/boundaries': 'error' },
  },
  {
    files: ['miniprogram/**/*.ts'],
    languageOptions: { globals: miniprogramGlobals },
    rules: {
      // Pages never reach the cloud directly: only services/cloud.ts may touch wx.cloud.
      'no-restricted-properties': [
        'error',
        { object: 'wx', property: 'cloud', message: 'Use miniprogram/services (callCloud) instead.' },
      ],
    },
  },
  {
    files: ['miniprogram/services/cloud.ts', 'miniprogram/admin/services/storage.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['miniprogram/shared/**/*.ts'],
    rules: {
      // The shared core runs on both sides: no platform globals at all.
      'no-restricted-globals': ['error', 'wx', 'process', 'require'],
    },
  },
  {
    files: ['**/*.js', 'scripts/**/*.ts', 'sandbox/**/*.ts', 'test/**/*.ts', 'server/**/*.ts'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // Lazy requires of heavy tools (miniprogram-ci loads in ~1 s) and of the test runtime.
    files: ['**/*.js', 'scripts/**/*.ts', 'sandbox/**/*.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    languageOptions: { globals: { ...globals.jest, ...miniprogramGlobals } },
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
