import type { SiteSettings } from './site.js';

const PLACEHOLDER = /\$\{settings\.([a-z0-9-]+)\}/g;

/** Replace `${settings.NAME}` in strings (also inside lists); returns the value and the unknown names met. */
export function interpolate(value: unknown, settings: Partial<SiteSettings>): { value: unknown; unknown: string[] } {
  const unknown: string[] = [];
  const visit = (item: unknown): unknown => {
    if (typeof item === 'string') {
      const whole = /^\$\{settings\.([a-z0-9-]+)\}$/.exec(item);
      // A lone placeholder keeps the setting's type, so a port stays a number.
      if (whole) return lookup(whole[1]!);
      return item.replace(PLACEHOLDER, (_, name: string) => String(lookup(name) ?? ''));
    }
    if (Array.isArray(item)) return item.map(visit);
    if (item !== null && typeof item === 'object')
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [key, visit(inner)]));
    return item;
  };
  const lookup = (name: string): unknown => {
    // Own properties only: `${settings.constructor}` names no setting, whatever Object.prototype holds.
    const setting = Object.hasOwn(settings, name) ? (settings as Record<string, unknown>)[name] : undefined;
    if (setting === undefined) unknown.push(name);
    return setting;
  };
  return { value: visit(value), unknown };
}
