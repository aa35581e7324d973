/**
 * Options from the environment: every option of a command can also come from an environment variable, named after
 * the flag (`--public-url` is `SCIMKIT_PUBLIC_URL`, `--no-console` is `SCIMKIT_CONSOLE=false`) unless the command
 * names it otherwise (`--port` is `PORT`). A flag wins over its variable. A variable's value goes through the
 * option's parser, as the flag's does, so a bad one stops the command with the variable's name and what is allowed;
 * an empty one is refused rather than taken as absent. `--help` shows each variable.
 */
import { Command, InvalidArgumentError, Option } from 'commander';

const PREFIX = 'SCIMKIT_';

/** The variable of an option: SCIMKIT_ and the flag's long name in capitals (`--no-x` and `--x` share SCIMKIT_X). */
export function envName(option: Option): string {
  const long = (option.long ?? '').replace(/^--(no-)?/, '');
  return PREFIX + long.toUpperCase().replace(/-/g, '_');
}

const TRUE = /^(true|1|yes|on)$/i;
const FALSE = /^(false|0|no|off)$/i;

/**
 * The value of `option` from its variable, parsed as the flag's value would be; a bad value stops the command with
 * the variable's name and what the option allows.
 */
function fromEnvironment(command: Command, option: Option, name: string, raw: string): unknown {
  const fail = (allowed: string): never =>
    command.error(`error: environment variable '${name}' (${option.long}) ${allowed} (got ${JSON.stringify(raw)})`, { code: 'scimkit.invalidEnv', exitCode: 1 });
  if (!option.required && !option.optional) {
    // A switch: commander's own variables would take any value, "false" included, as on.
    if (TRUE.test(raw.trim())) return true;
    if (FALSE.test(raw.trim())) return false;
    return fail('must be true or false');
  }
  if (raw.trim() === '') return fail('must not be empty: unset it, or give a value');
  if (!option.parseArg) return raw;
  try {
    return option.parseArg(raw, undefined);
  } catch (err) {
    if (err instanceof InvalidArgumentError) return fail(err.message);
    throw err;
  }
}

/**
 * Gives every option of `command` its environment variable (`names` overrides the generated name, by attribute name,
 * e.g. `{ port: 'PORT' }`). Call it after the command's last option is added. Options that already name a variable
 * (`.env()` when they were made) keep commander's handling of it.
 */
export function optionsFromEnvironment(command: Command, names: Readonly<Record<string, string>> = {}): Command {
  const ours: [Option, string][] = [];
  for (const option of command.options) {
    if (option.envVar !== undefined) continue;
    const name = names[option.attributeName()] ?? envName(option);
    // `--no-x` and `--x` are one setting: the first of them takes the variable.
    if (ours.some(([, other]) => other === name)) continue;
    ours.push([option, name]);
    // For --help, which then shows "(env: NAME)"; reading it is done below, since commander wires variables up
    // only for options that had one when they were added.
    option.envVar = name;
    if (!option.required && !option.optional) option.description = `${option.description} (true or false)`;
  }
  command.hook('preAction', (_command, action) => {
    if (action !== command) return;
    for (const [option, name] of ours) {
      const raw = process.env[name];
      const key = option.attributeName();
      // A flag on the command line wins.
      if (raw === undefined || command.getOptionValueSource(key) === 'cli') continue;
      command.setOptionValueWithSource(key, fromEnvironment(command, option, name, raw), 'env');
    }
  });
  return command;
}

export interface OptionSetting {
  /** The flag, e.g. `--port`. */
  readonly flag: string;
  /** The variable the option reads. */
  readonly env: string;
  readonly value: unknown;
  readonly source: 'cli' | 'env';
}

/** The options of `command` set by a flag or a variable (not defaults), in the order the command lists them. */
export function explicitSettings(command: Command): OptionSetting[] {
  const out: OptionSetting[] = [];
  for (const option of command.options) {
    const key = option.attributeName();
    const source = command.getOptionValueSource(key);
    if ((source !== 'cli' && source !== 'env') || out.some((s) => s.flag === option.long)) continue;
    out.push({ flag: option.long ?? option.flags, env: option.envVar ?? envName(option), value: command.getOptionValue(key), source: source === 'cli' ? 'cli' : 'env' });
  }
  return out;
}
