/**
 * The manifests of deploy/kubernetes/ as podman 4.3's `kube play` can run them on one machine, changed only where
 * podman differs from Kubernetes: it runs Pods, Deployments and ConfigMaps but no Services or PodDisruptionBudgets
 * (those are validated only, test/deploy/manifests.test.ts); it reads secretRef from its own secret store, so the
 * Secret becomes a ConfigMap; it publishes every containerPort on the host, so each gets a free hostPort (and one
 * replica per Deployment); there is no Service DNS, so REDIS_URL names the Redis pod's address; and every name
 * (pods, configs, emptyDir volumes) gets a suffix unique to this run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { PROJECT_DIR } from '../../src/build/layout.ts';
import { freePort } from '../../src/system/ports.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML
type Obj = any;
export const MANIFESTS = join(PROJECT_DIR, 'deploy', 'kubernetes');
const PLAYED = new Set(['ConfigMap', 'Secret', 'Deployment']);

export interface Played {
  yaml: string;
  /** Deployment name (as in the manifests) → container port → host port. */
  hostPorts: Map<string, Map<number, number>>;
  /** The pod of each Deployment, by its name in the manifests. */
  podOf: (deployment: string) => string;
}

export async function playable(files: string[], suffix: string, redisUrl?: string): Promise<Played> {
  const docs: Obj[] = files.flatMap((f) =>
    parseAllDocuments(readFileSync(join(MANIFESTS, f), 'utf8')).map((d) => d.toJS()),
  );
  const hostPorts = new Map<string, Map<number, number>>();
  const renamed = (name: string) => `${name}-${suffix}`;
  const out: Obj[] = [];
  for (const doc of docs.filter((d) => PLAYED.has(d.kind))) {
    if (doc.kind === 'Secret') {
      doc.kind = 'ConfigMap';
      doc.data = { ...doc.stringData, ...(redisUrl ? { REDIS_URL: redisUrl } : {}) };
      delete doc.stringData;
      delete doc.type;
    }
    if (doc.kind === 'Deployment') {
      const ports = new Map<number, number>();
      hostPorts.set(doc.metadata.name, ports);
      doc.spec.replicas = 1;
      const pod = doc.spec.template.spec;
      for (const c of pod.containers) {
        for (const p of c.ports ?? []) {
          p.hostPort = await freePort();
          ports.set(p.containerPort, p.hostPort);
        }
        for (const ref of c.envFrom ?? []) {
          const name = ref.secretRef?.name ?? ref.configMapRef?.name;
          delete ref.secretRef;
          ref.configMapRef = { name: renamed(name) };
        }
        for (const m of c.volumeMounts ?? []) m.name = renamed(m.name);
      }
      for (const v of pod.volumes ?? []) v.name = renamed(v.name);
    }
    doc.metadata.name = renamed(doc.metadata.name);
    out.push(doc);
  }
  return { yaml: out.map((d) => stringify(d)).join('---\n'), hostPorts, podOf: (d) => `${renamed(d)}-pod-0` };
}
