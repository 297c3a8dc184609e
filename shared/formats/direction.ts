/**
 * Mail direction from the configured accepted domains (the tenant's own domains): a message from an
 * accepted domain to an accepted domain is internal, from outside to an accepted domain inbound,
 * from an accepted domain to outside outbound. Without accepted domains, or when neither side is
 * an accepted domain, the direction is unknown (a trace row always involves the tenant, so
 * "external" is not a useful answer). A domain matches itself and its subdomains.
 */
export type MailDirection = 'inbound' | 'outbound' | 'internal' | 'unknown';

/** The domain part of an address, lowercased ('' when there is none). */
export function domainOf(address: unknown): string {
  if (typeof address !== 'string') return '';
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
}

export function isAcceptedDomain(domain: string, acceptedDomains: readonly string[]): boolean {
  if (!domain) return false;
  return acceptedDomains.some((d) => domain === d || domain.endsWith(`.${d}`));
}

export function mailDirection(sender: unknown, recipient: unknown, acceptedDomains: readonly string[]): MailDirection {
  if (!acceptedDomains.length) return 'unknown';
  const fromInside = isAcceptedDomain(domainOf(sender), acceptedDomains);
  const toInside = isAcceptedDomain(domainOf(recipient), acceptedDomains);
  if (fromInside && toInside) return 'internal';
  if (toInside) return 'inbound';
  if (fromInside) return 'outbound';
  return 'unknown';
}
