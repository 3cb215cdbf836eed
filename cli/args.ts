import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { SdsError } from '../core/errors.js';

/**
 * A command's options are one zod object: each field is an option's validation, and carries what --help
 * says about it as zod metadata (`.meta()`). The parseArgs config and the help table are derived from it.
 */
export interface OptionMeta {
  /** One line for --help. */
  help: string;
  /** Placeholder shown after a flag that takes a value, e.g. FILE. */
  value?: string;
  /** One-letter alias: 'o' for -o. */
  short?: string;
}

/**
 * Option builders: each returns the ordinary zod schema, with its help line attached, so validation chains
 * on as usual: `opt.int('N', 'patches per step (default 64)').min(1).max(4096).default(64)`.
 * Booleans are flags, arrays may be given more than once, everything else takes a value (strings from the
 * command line: numbers are coerced). Any zod schema works as an option once it has `.meta({ help, value })`.
 */
export const opt = {
  /** A text value; chain `.optional()`, `.default(...)` or checks. */
  string: (value: string, help: string) => z.string().meta({ value, help }),
  /** A text value that must be given; `error` is the message when it is missing. */
  required: (value: string, help: string, error = 'is required') => z.string({ error }).meta({ value, help }),
  /** A number; chain checks, then `.optional()` or `.default(...)`. */
  number: (value: string, help: string) => z.coerce.number().meta({ value, help }),
  /** A whole number; chain checks, then `.optional()` or `.default(...)`. */
  int: (value: string, help: string) => z.coerce.number().int().meta({ value, help }),
  /** One of a fixed list; chain `.optional()` or `.default(...)`. */
  enum: <const T extends readonly string[]>(values: T, value: string, help: string, params?: string | z.core.$ZodEnumParams) => z.enum(values, params).meta({ value, help }),
  /** A boolean flag, given or not. */
  flag: (help: string) => z.boolean().optional().meta({ help }),
  /** A text value that may be given more than once (`--x A --x B`): a list, [] when absent. */
  list: (value: string, help: string) => z.array(z.string()).default([]).meta({ value, help }),
};

export interface CommandSpec<S extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  usage: string;
  /** The options: a zod object whose fields carry their help (see `opt`). */
  schema: S;
  run(options: z.infer<S>, positionals: string[]): Promise<number>;
}

/** Checks the options' metadata at once, so an undocumented option fails on import, not on --help. */
export function defineCommand<S extends z.ZodObject>(spec: CommandSpec<S>): CommandSpec<S> {
  commandOptions(spec);
  return spec;
}

/** An option as parseArgs and --help see it, derived from its schema. */
export interface OptionInfo extends OptionMeta {
  name: string;
  type: 'string' | 'boolean';
  /** May be given more than once; the value is then an array. */
  multiple: boolean;
}

/** Schemas that wrap the one that says what the command line gives. */
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'nonoptional', 'catch', 'readonly']);

/** Unwraps optional/default/pipe... down to the value's own type; metadata of outer layers wins over inner. */
export function optionInfo(name: string, schema: z.core.$ZodType): OptionInfo {
  let meta: Record<string, unknown> = {};
  let s = schema;
  for (;;) {
    meta = { ...z.globalRegistry.get(s), ...meta };
    const def = s._zod.def as z.core.$ZodTypeDef & { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (WRAPPERS.has(def.type) && def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else break;
  }
  if (typeof meta.help !== 'string') throw new Error(`option --${name} has no help: build it with opt.* or add .meta({ help, value })`);
  const type = s._zod.def.type === 'boolean' ? 'boolean' : 'string';
  return {
    name,
    type,
    multiple: s._zod.def.type === 'array',
    help: meta.help,
    ...(typeof meta.value === 'string' ? { value: meta.value } : {}),
    ...(typeof meta.short === 'string' ? { short: meta.short } : {}),
  };
}

const cache = new WeakMap<object, OptionInfo[]>();

/** The command's options, in the order of its schema's fields. */
export function commandOptions(cmd: CommandSpec): OptionInfo[] {
  let infos = cache.get(cmd.schema);
  if (!infos) {
    if (!(cmd.schema instanceof z.ZodObject)) throw new Error(`${cmd.name}: the options schema must be a z.object`);
    infos = Object.entries(cmd.schema.shape as Record<string, z.core.$ZodType>).map(([name, s]) => optionInfo(name, s));
    if (infos.some((o) => o.name === 'help' || o.short === 'h')) throw new Error(`${cmd.name}: --help and -h are taken`);
    cache.set(cmd.schema, infos);
  }
  return infos;
}

export function commandHelp(cmd: CommandSpec): string {
  const rows = commandOptions(cmd).map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.multiple ? ' ...' : ''}`;
    return `  ${flag.padEnd(30)} ${o.help}`;
  });
  return `${cmd.summary}\n\nusage: ${cmd.usage}\n\noptions:\n${rows.join('\n')}\n  ${'-h, --help'.padEnd(30)} show this help\n`;
}

/** argv -> validated options. Unknown flags and bad values become BAD_ARGUMENT errors. */
export function parseCommandArgs<S extends z.ZodType>(cmd: CommandSpec<S>, argv: string[]): { options: z.infer<S>; positionals: string[]; help: boolean } {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const o of commandOptions(cmd as CommandSpec)) options[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new SdsError('BAD_ARGUMENT', `${cmd.name}: ${(cause as Error).message}`, { suggestion: `see: sds ${cmd.name} --help` });
  }
  const { help, ...values } = parsed.values as Record<string, unknown>;
  if (help) return { options: {} as z.infer<S>, positionals: [], help: true };
  const result = cmd.schema.safeParse(values);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ');
    throw new SdsError('BAD_ARGUMENT', `${cmd.name}: ${issues}`, { suggestion: `see: sds ${cmd.name} --help` });
  }
  return { options: result.data, positionals: parsed.positionals, help: false };
}
