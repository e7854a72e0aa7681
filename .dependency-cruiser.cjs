// The layers of design.md ("Layout"), enforced in `npm run lint`. Each layer imports downward only:
//   domain  <- ports  <- engine           <- cli (the only place that wires adapters and providers)
//   domain  <- ports  <- adapters, providers
// templates are pure renderers over domain types, so the engine may use them.
const layer = (name, path, allowed) => ({
  name: `${name}-imports-only-${allowed.join('-')}`,
  comment: `${name} may import only: ${allowed.join(', ')} (design.md "Layout")`,
  severity: 'error',
  from: { path },
  to: { path: '^(src|providers|templates|test|integration)/', pathNot: allowed.map((a) => LAYERS[a]) },
});

const LAYERS = {
  domain: '^src/domain/',
  ports: '^src/ports/',
  engine: '^src/engine/',
  adapters: '^src/adapters/',
  providers: '^providers/',
  templates: '^templates/',
};

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle hides which layer owns a concept: move the shared piece down a layer.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('domain', LAYERS.domain, ['domain']),
    layer('ports', LAYERS.ports, ['domain', 'ports']),
    layer('templates', LAYERS.templates, ['domain', 'templates']),
    layer('engine', LAYERS.engine, ['domain', 'ports', 'engine', 'templates']),
    // Adapters do not import one another: each talks to one outside system (kube, etcd).
    {
      name: 'adapter-imports-only-its-own-folder',
      comment: 'an adapter imports the domain, the ports and its own folder only',
      severity: 'error',
      from: { path: '^src/adapters/([^/]+)/' },
      to: { path: '^(src|providers|templates)/', pathNot: ['^src/domain/', '^src/ports/', '^src/adapters/$1/'] },
    },
    {
      name: 'provider-imports-only-its-own-folder',
      comment: 'a provider imports the domain, the ports, the registry contract and its own folder only',
      severity: 'error',
      from: { path: '^providers/([^/]+)/', pathNot: '^providers/aws-asg/' },
      to: { path: '^(src|providers|templates)/', pathNot: ['^src/domain/', '^src/ports/', '^providers/$1/'] },
    },
    {
      name: 'aws-asg-shares-only-aws-ec2-pieces',
      comment:
        "the group provider reuses aws-ec2's EC2 pieces (instances, drift, target group, termination), never its module entry",
      severity: 'error',
      from: { path: '^providers/aws-asg/' },
      to: {
        path: '^(src|providers|templates)/',
        pathNot: ['^src/domain/', '^src/ports/', '^providers/aws-asg/', '^providers/aws-ec2/(?!index[.]ts$)'],
      },
    },
    {
      name: 'product-code-does-not-import-tests',
      severity: 'error',
      from: { path: '^(src|providers|templates|bin)/' },
      to: { path: '^(test|integration)/' },
    },
  ],
  options: {
    // TypeScript 7 ships no compiler API yet; swc reads the sources, and its parse keeps `import type` lines,
    // so type-only imports count too (checked: a type import from src/domain into an adapter is reported).
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
  },
};
