/**
 * Slidedat.ini read the way OpenSlide reads it, through GLib's GKeyFile: `[group]` lines, `key=value` lines, `#`
 * comments and blank lines, a UTF-8 byte-order mark skipped, CR LF or LF line ends. Values stay raw (GLib's
 * `get_value`: no escape expansion), because OpenSlide's `mirax.GROUP.KEY` properties show them raw. Typed reads
 * follow GKeyFile's number rules, so a value OpenSlide refuses is refused here too, with the group and key named.
 */
import { SdsError } from '../../core/errors.js';

/** A parse or lookup error: `what` names the file for people ("CMU-1/Slidedat.ini"). */
function unreadable(what: string, problem: string, context?: Record<string, unknown>): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${what}: ${problem}`, {
    suggestion: 'the MIRAX Slidedat.ini is damaged or incomplete; copy the whole slide (the .mrxs file and its folder) again',
    context,
  });
}

export class KeyFile {
  private constructor(
    /** Groups in file order; within one, keys in first-seen order (a repeated key keeps its place, the last value wins, as in GLib). */
    readonly groups: ReadonlyMap<string, ReadonlyMap<string, string>>,
    /** For messages: "CMU-1/Slidedat.ini". */
    readonly what: string,
  ) {}

  static parse(bytes: Uint8Array, what: string): KeyFile {
    let text = new TextDecoder('utf-8').decode(bytes);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const groups = new Map<string, Map<string, string>>();
    let current: Map<string, string> | undefined;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      const start = line.replace(/^[\t\n\v\f\r ]+/, '');
      if (start === '' || start.startsWith('#')) continue;
      if (start.startsWith('[')) {
        // GLib: the name runs to the first ']', after which only blanks may follow.
        const close = start.indexOf(']');
        const name = close > 0 ? start.slice(1, close) : '';
        if (close < 0 || name === '' || /[[\x00-\x1f]/.test(name) || !/^[ \t]*$/.test(start.slice(close + 1))) {
          throw unreadable(what, `line ${i + 1} is not a valid [group] header: ${JSON.stringify(clip(start))}`, { line: i + 1 });
        }
        current = groups.get(name) ?? new Map<string, string>();
        groups.set(name, current);
        continue;
      }
      const eq = start.indexOf('=');
      if (eq < 0) throw unreadable(what, `line ${i + 1} is neither a [group], a key=value pair nor a comment: ${JSON.stringify(clip(start))}`, { line: i + 1 });
      if (!current) throw unreadable(what, `line ${i + 1} has a key=value pair before the first [group]`, { line: i + 1 });
      const key = start.slice(0, eq).replace(/[\t\n\v\f\r ]+$/, '');
      if (key === '') throw unreadable(what, `line ${i + 1} has an empty key`, { line: i + 1 });
      current.set(key, start.slice(eq + 1).replace(/^[\t\n\v\f\r ]+/, ''));
    }
    if (groups.size === 0) throw unreadable(what, 'it holds no [group] at all (empty, or not an ini file)');
    return new KeyFile(groups, what);
  }

  has(group: string): boolean {
    return this.groups.has(group);
  }

  /** The raw value, or undefined when the group or key is absent. */
  value(group: string, key: string): string | undefined {
    return this.groups.get(group)?.get(key);
  }

  requireGroup(group: string): void {
    if (!this.groups.has(group)) throw unreadable(this.what, `it has no [${group}] section`, { group });
  }

  string(group: string, key: string): string {
    this.requireGroup(group);
    const v = this.value(group, key);
    if (v === undefined) throw unreadable(this.what, `[${group}] has no ${key}`, { group, key });
    return v;
  }

  /** GKeyFile integers: strtol in base 10 (leading blanks, a sign), then only the end or a blank; 32-bit. */
  integer(group: string, key: string): number {
    const v = this.string(group, key);
    const m = /^[\t\n\v\f\r ]*([+-]?\d+)(?:$|[\t\n\v\f\r ])/.exec(v);
    const n = m ? Number(m[1]) : NaN;
    if (!m) throw unreadable(this.what, `[${group}] ${key} = ${JSON.stringify(clip(v))} is not a whole number`, { group, key });
    if (n < -(2 ** 31) || n > 2 ** 31 - 1) throw unreadable(this.what, `[${group}] ${key} = ${v} is out of range`, { group, key });
    return n;
  }

  /** GKeyFile doubles: g_ascii_strtod over the whole value (leading blanks allowed, nothing after the number). */
  double(group: string, key: string): number {
    const v = this.string(group, key);
    const s = v.replace(/^[\t\n\v\f\r ]+/, '');
    const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : NaN;
    if (!Number.isFinite(n)) throw unreadable(this.what, `[${group}] ${key} = ${JSON.stringify(clip(v))} is not a number`, { group, key });
    return n;
  }
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
