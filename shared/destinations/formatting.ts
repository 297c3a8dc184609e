/** A destination's formatter, built once: the format, accepted domains and privacy rules of its config. */
import type { SecretSource } from '../auth/secrets';
import type { DestinationCommonConfig } from './config-common';
import { createFormatter, type Formatter } from '../formats';

export class DestinationFormatter {
  private formatter?: Promise<Formatter>;
  constructor(private readonly config: DestinationCommonConfig, private readonly secrets: SecretSource) {}

  get(): Promise<Formatter> {
    this.formatter ??= (async () => {
      const key = this.config.privacy.hashKey ? await this.secrets.get(this.config.privacy.hashKey) : undefined;
      return createFormatter({
        format: this.config.format, acceptedDomains: this.config.acceptedDomains, privacy: this.config.privacy,
        ...(this.config.acceptedDomainsBySource ? { acceptedDomainsBySource: this.config.acceptedDomainsBySource } : {}),
      }, key);
    })();
    this.formatter.catch(() => (this.formatter = undefined));
    return this.formatter;
  }
}
