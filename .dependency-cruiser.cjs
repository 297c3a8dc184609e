// Dependency rules for shared/ (issue 18), checked by `npm run lint` (and so by `npm test` and CI):
// no cycles in shared/; shared/config/ imports no component (destination, format, auth method,
// source API); shared/ never imports the entry points and tools around it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles-in-shared',
      comment: 'A module in shared/ must not import itself back through other modules.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { circular: true },
    },
    {
      name: 'config-imports-no-component',
      comment: 'shared/config/ parses the document with the registries shared/components.ts gives it; neither it nor shared/config-common/ (what config/ and the components share) imports a destination, format, auth method or source API.',
      severity: 'error',
      from: { path: '^shared/(config|config-common)/' },
      to: { path: '^shared/(destinations|formats|auth|api)/' },
    },
    {
      name: 'shared-imports-no-entry-points',
      comment: 'shared/ is the library under the functions, the local host, the simulator, the benchmark, the tests and the command line; it never imports them.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(functions|local|simulator|bench|test|cli)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
  },
};
