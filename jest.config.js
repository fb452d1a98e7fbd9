/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
    // jose ships only ES modules; jest's CommonJS runtime needs them transpiled (Node itself requires them natively).
    '^.+/node_modules/jose/.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  // Fails any test file after which a built-in prototype has a property it did not have before.
  setupFilesAfterEnv: ['<rootDir>/test/setup/prototype-guard.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
};
