/**
 * Model versions as hosts report them and front ends and the management API read them: each host lists, per
 * model, each version it holds and its state. Only `ready` versions take traffic; an unpinned request goes to the
 * newest version ready on some live host.
 */
export const VERSION_STATES = ['loading', 'ready', 'unloading', 'failed'] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export interface VersionStatus {
  version: number;
  state: VersionState;
  /** Why it failed (load or warm-up error), for `failed`. */
  reason?: string;
}

/**
 * The name under which one version of a model has its own request streams and live-host sets (modelKeys).
 * Version 1 keeps the model's own name, so a model without versions is laid out as before versions existed.
 */
export function versionedModelName(model: string, version: number): string {
  return version === 1 ? model : `${model}@${version}`;
}

/** The newest version that some host reports ready, or undefined. */
export function newestReady(statuses: Iterable<VersionStatus>): number | undefined {
  let newest: number | undefined;
  for (const s of statuses) if (s.state === 'ready' && (newest === undefined || s.version > newest)) newest = s.version;
  return newest;
}
