/** Import boundaries, checked by `npm run lint` (depcruise): a failing rule names the importing and imported file. */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle hides start-up order and makes modules impossible to test alone: move the shared part out.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-workers',
      severity: 'error',
      comment: 'workers/ holds thread entry points; they import src/, never the reverse (src names them as URLs).',
      from: { path: '^src/' },
      to: { path: '^workers/' },
    },
    {
      name: 'admin-not-to-frontend',
      severity: 'error',
      comment: 'The admin server shares the HTTP seam through src/http/, not the public front end.',
      from: { path: '^src/admin/' },
      to: { path: '^src/frontend/' },
    },
    {
      name: 'product-not-to-tooling',
      severity: 'error',
      comment: 'The product (src/, workers/) never depends on tests, benchmarks, scripts or tools.',
      from: { path: '^(src|workers)/' },
      to: { path: '^(test|bench|scripts|tools)/' },
    },
    {
      name: 'tests-are-leaves',
      severity: 'error',
      comment: 'Nothing imports test code: a helper two of them need lives in scripts/lib/.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'resolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing (a moved or deleted file).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|models|dist)/' },
    parser: 'swc',
    enhancedResolveOptions: {
      extensions: ['.ts', '.mjs', '.js', '.cjs', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
