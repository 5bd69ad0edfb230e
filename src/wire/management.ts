/**
 * The management API's contract between the admin server (any front end with ADMIN_KEYS_FILE) and the model
 * hosts, through Redis:
 *
 *   {prefix}:model-control            hash: model name → the last ModelControl asked for it (JSON), so a host
 *                                     that starts later, or missed the message, honours an unload too
 *   {prefix}:model-control:events     pub/sub channel: one ControlCommand (JSON) per load or unload
 *   {prefix}:model-control:ack:<id>   list: one ControlAck (JSON) per host, expiring; the admin server polls it
 *
 * Every key is in the deployment's base slot (Redis Cluster).
 */
import type { Keys } from './keys.ts';
import type { VersionStatus } from './versions.ts';

export const CONTROL_ACTIONS = ['load', 'unload'] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

/** What was last asked for a model, kept in the control hash. */
export interface ModelControl {
  action: ControlAction;
  /** Command id: acknowledgements are filed under it. */
  id: string;
  /** The admin key's name (never the key). */
  by: string;
  /** Epoch ms. */
  at: number;
}

export interface ControlCommand extends ModelControl {
  model: string;
}

export interface ControlAck {
  id: string;
  host: string;
  /** False when this host does not serve the model at all (MODELS, or not in its repository). */
  served: boolean;
  ok: boolean;
  /** The model's versions on this host after the action. */
  versions: VersionStatus[];
  /** Why it failed, when !ok. */
  error?: string;
}

/** How long acknowledgements are kept for a slow admin client to read. */
export const ACK_TTL_S = 300;

export function managementKeys(keys: Keys) {
  return {
    control: `${keys.base}:model-control`,
    channel: `${keys.base}:model-control:events`,
    ack: (id: string) => `${keys.base}:model-control:ack:${id}`,
  };
}

function parse<T>(text: string, check: (v: Record<string, unknown>) => boolean): T | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && check(value as Record<string, unknown>)
      ? (value as T)
      : undefined;
  } catch {
    return undefined;
  }
}

export function parseCommand(text: string): ControlCommand | undefined {
  return parse<ControlCommand>(
    text,
    (v) =>
      typeof v.model === 'string' &&
      typeof v.id === 'string' &&
      typeof v.by === 'string' &&
      (CONTROL_ACTIONS as readonly unknown[]).includes(v.action),
  );
}

export function parseControl(text: string): ModelControl | undefined {
  return parse<ModelControl>(
    text,
    (v) => typeof v.id === 'string' && (CONTROL_ACTIONS as readonly unknown[]).includes(v.action),
  );
}

export function parseAck(text: string): ControlAck | undefined {
  return parse<ControlAck>(
    text,
    (v) =>
      typeof v.id === 'string' && typeof v.host === 'string' && typeof v.ok === 'boolean' && Array.isArray(v.versions),
  );
}

/** The models whose last command, in the control hash (HGETALL), was an unload: the one reading of kept unloads. */
export function keptUnloads(controls: Record<string, string>): Map<string, ModelControl> {
  const unloaded = new Map<string, ModelControl>();
  for (const [model, text] of Object.entries(controls)) {
    const control = parseControl(text);
    if (control?.action === 'unload') unloaded.set(model, control);
  }
  return unloaded;
}
