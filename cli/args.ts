import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { SdsError } from '../core/errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** May be given more than once; the value is then an array (string options only). */
  multiple?: boolean;
  /** One line for --help. */
  help: string;
  /** Placeholder shown in help, e.g. FILE. */
  value?: string;
}

export interface CommandSpec<S extends z.ZodType> {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  schema: S;
  run(options: z.infer<S>, positionals: string[]): Promise<number>;
}

export function defineCommand<S extends z.ZodType>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

export function commandHelp(cmd: CommandSpec<z.ZodType>): string {
  const rows = Object.entries(cmd.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.multiple ? ' ...' : ''}`;
    return `  ${flag.padEnd(30)} ${o.help}`;
  });
  return `${cmd.summary}\n\nusage: ${cmd.usage}\n\noptions:\n${rows.join('\n')}\n  ${'-h, --help'.padEnd(30)} show this help\n`;
}

/** argv -> validated options. Unknown flags and bad values become BAD_ARGUMENT errors. */
export function parseCommandArgs<S extends z.ZodType>(cmd: CommandSpec<S>, argv: string[]): { options: z.infer<S>; positionals: string[]; help: boolean } {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(cmd.options)) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
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
