/** The configuration a command reads: `--config <file>` (or MTC_CONFIG_PATH through it), else MTC_CONFIG. */
import path from 'node:path';
import { loadConfigFile, loadConfigFromEnvironment, type LoadedConfig } from '../shared/components';

export function loadCommandConfig(file: string | undefined, env: NodeJS.ProcessEnv): LoadedConfig {
  if (file) return loadConfigFile(path.resolve(file), env, { label: env.MTC_CONFIG_PATH === file ? 'MTC_CONFIG_PATH' : '--config' });
  return loadConfigFromEnvironment(env);
}
