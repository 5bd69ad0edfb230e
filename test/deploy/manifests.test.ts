/**
 * deploy/kubernetes/: every object validated against the Kubernetes JSON schemas (kubernetes-models, generated
 * from the API's OpenAPI definitions: types, required fields, enums, formats; unknown fields are not flagged), the
 * KServe objects' containers against the core Container schema and their fields against the runtime, and the
 * references between objects that no schema checks: selectors, named ports, probes, config names and variables.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { validate as validateContainer } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Container';
import { serviceSchema } from '../../src/config/config.ts';
import { PROJECT_DIR } from '../../src/build/layout.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, checked field by field below
type Obj = any;
const DIR = join(PROJECT_DIR, 'deploy', 'kubernetes');
const version = (JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8')) as { version: string }).version;

function load(dir: string): Array<{ file: string; doc: Obj }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
        assert.deepEqual(d.errors, [], `${file}: YAML errors`);
        return { file, doc: d.toJS() as Obj };
      }),
    );
}

const core = load(DIR).filter(({ doc }) => doc.kind !== 'Kustomization');
const kserve = load(join(DIR, 'kserve'));
const ofKind = (kind: string) => core.map((o) => o.doc).filter((d) => d.kind === kind);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const containersOf = (d: Obj): Obj[] => d.spec.template.spec.containers;

describe('Kubernetes manifests', () => {
  it('has the objects a deployment needs', () => {
    const kinds = core.map(({ doc }) => `${doc.kind}/${doc.metadata.name}`).sort();
    for (const want of [
      'ConfigMap/image-classify-config',
      'Secret/image-classify-redis',
      'Deployment/redis',
      'Service/redis',
      'Deployment/model-host',
      'Deployment/frontend',
      'Service/image-classify',
      'PodDisruptionBudget/model-host',
      'PodDisruptionBudget/frontend',
    ])
      assert.ok(kinds.includes(want), `missing ${want}: ${kinds.join(', ')}`);
  });

  it('validates every object against its Kubernetes schema', async () => {
    for (const { file, doc } of core) {
      const { [doc.kind]: Model } = (await import(`kubernetes-models/${doc.apiVersion}/${doc.kind}`)) as Record<
        string,
        new (
          d: Obj,
        ) => { validate(): void }
      >;
      assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
      assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`);
    }
  });

  it('rejects what the schemas forbid (the validator is live)', async () => {
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    const frontend = structuredClone(ofKind('Deployment').find((d) => d.metadata.name === 'frontend'));
    frontend.spec.replicas = 'two';
    assert.throws(() => new Deployment(frontend).validate(), /replicas must be integer/);
  });

  it('selects what it means to: Deployment, Service and PodDisruptionBudget selectors, named ports, probes', () => {
    const deployments = ofKind('Deployment');
    for (const d of deployments) {
      assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${d.metadata.name}: selector`);
      for (const c of containersOf(d)) {
        const names = new Set((c.ports ?? []).map((p: Obj) => p.name));
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          if (typeof port === 'string') assert.ok(names.has(port), `${d.metadata.name}: probe port ${port}`);
        }
        assert.ok(
          c.resources?.requests && c.resources?.limits?.memory,
          `${d.metadata.name}: requests and a memory limit`,
        );
      }
    }
    for (const s of [...ofKind('Service'), ...ofKind('PodDisruptionBudget')]) {
      const selector = s.spec.selector.matchLabels ?? s.spec.selector;
      const targets = deployments.filter((d) => matches(selector, d.spec.template.metadata.labels));
      assert.equal(targets.length, 1, `${s.kind} ${s.metadata.name} selects ${targets.length} Deployments`);
      for (const p of s.kind === 'Service' ? s.spec.ports : []) {
        const ports = containersOf(targets[0]).flatMap((c: Obj) => c.ports ?? []);
        assert.ok(
          ports.some((cp: Obj) => cp.name === p.targetPort),
          `${s.metadata.name}: targetPort ${p.targetPort}`,
        );
      }
    }
    const http = ofKind('Service').find((s) => s.metadata.name === 'image-classify');
    assert.deepEqual(
      http.spec.ports.map((p: Obj) => [p.name, p.port]),
      [
        ['http', 8080],
        ['grpc', 8001],
      ],
    );
  });

  it("runs this version's image, with settings the service knows and drains within the grace period", () => {
    const known = new Set(Object.keys(serviceSchema.shape));
    const configs = new Map(
      [...ofKind('ConfigMap'), ...ofKind('Secret')].map((c) => [c.metadata.name, { ...c.data, ...c.stringData }]),
    );
    for (const name of [...configs.values()].flatMap((data) => Object.keys(data)))
      assert.ok(known.has(name), `${name} is no setting of the service`);
    for (const d of ofKind('Deployment')) {
      for (const c of containersOf(d)) {
        assert.equal(c.image, `localhost/image-classify-serving:${version}`, `${d.metadata.name}: image`);
        for (const ref of c.envFrom ?? []) {
          const name = ref.configMapRef?.name ?? ref.secretRef?.name;
          assert.ok(configs.has(name), `${d.metadata.name}: envFrom ${name} does not exist`);
        }
        for (const e of c.env ?? []) assert.ok(known.has(e.name), `${d.metadata.name}: ${e.name} is no setting`);
      }
      if (d.metadata.name === 'redis') continue;
      const timeoutMs = Number(configs.get('image-classify-config')?.REQUEST_TIMEOUT_MS ?? 30_000);
      assert.ok(
        d.spec.template.spec.terminationGracePeriodSeconds * 1000 > timeoutMs + 5000,
        `${d.metadata.name}: grace`,
      );
    }
  });

  it('lists every manifest in kustomization.yaml', () => {
    const kustomization = load(DIR).find(({ doc }) => doc.kind === 'Kustomization')?.doc;
    const files = [...new Set(core.map((o) => o.file))].sort();
    assert.deepEqual([...kustomization.resources].sort(), files);
  });
});

describe('KServe example', () => {
  const runtime = kserve.find(({ doc }) => doc.kind === 'ServingRuntime')?.doc;
  const isvc = kserve.find(({ doc }) => doc.kind === 'InferenceService')?.doc;

  it('a ServingRuntime on the v2 protocol whose containers are valid Kubernetes Containers', () => {
    assert.equal(runtime.apiVersion, 'serving.kserve.io/v1alpha1');
    assert.deepEqual(runtime.spec.protocolVersions, ['v2']);
    for (const c of runtime.spec.containers) {
      assert.ok(validateContainer(c), JSON.stringify((validateContainer as unknown as { errors: unknown }).errors));
      assert.equal(c.image, `localhost/image-classify-serving:${version}`);
      const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value]));
      assert.equal(env.MODEL_DIR, '/mnt/models', "KServe's storage initializer writes the model there");
      assert.equal(env.MODEL_NAME, '{{.Name}}', "served under the InferenceService's name");
      assert.equal(c.ports[0].containerPort, 8080);
      assert.match(c.readinessProbe.httpGet.path, /^\/v2\/health\/ready$/);
    }
  });

  it('an InferenceService that selects that runtime and its model format', () => {
    assert.equal(isvc.apiVersion, 'serving.kserve.io/v1beta1');
    const model = isvc.spec.predictor.model;
    assert.equal(model.runtime, runtime.metadata.name);
    assert.ok(runtime.spec.supportedModelFormats.some((f: Obj) => f.name === model.modelFormat.name));
    assert.equal(model.protocolVersion, 'v2');
    assert.ok(model.storageUri);
  });
});
