/**
 * The simulator's handlers return a plain response value instead of writing to the socket, so
 * faults can rewrite it (truncate the body, poison the nextLink) before it goes out.
 */
import { randomUUID } from 'node:crypto';

export interface SimResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RequestIds {
  requestId: string;
  clientRequestId: string;
  /** Clock time of the request, for innerError.date. */
  now: number;
}

export function newRequestIds(clientRequestId: string | undefined, now: number): RequestIds {
  const requestId = randomUUID();
  return { requestId, clientRequestId: clientRequestId && /^[\w.-]{1,100}$/.test(clientRequestId) ? clientRequestId : requestId, now };
}

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): SimResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

/** The Graph error envelope (reference B.8): {"error":{"code","message","innerError":{date,request-id,client-request-id}}}. */
export function graphError(status: number, code: string, message: string, ids: RequestIds, headers: Record<string, string> = {}): SimResponse {
  return jsonResponse(status, {
    error: {
      code,
      message,
      innerError: {
        // Graph writes the date without fractional seconds and without a zone (B.8, elastic#18985 sample).
        date: new Date(ids.now).toISOString().slice(0, 19),
        'request-id': ids.requestId,
        'client-request-id': ids.clientRequestId,
      },
    },
  }, { 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId, ...headers });
}

/** The RWS (WCF Data Services) error body (reference A.8): {"odata.error":{"code":"","message":{"lang":"en-US","value":…}}}. */
export function rwsError(status: number, message: string): SimResponse {
  return jsonResponse(status, { 'odata.error': { code: '', message: { lang: 'en-US', value: message } } });
}

export const MESSAGES = {
  endDateRequired: 'EndDate is required when a StartDate is entered.',
  // UNCONFIRMED: the mirror case (le without ge); text modelled on the one above.
  startDateRequired: 'StartDate is required when an EndDate is entered.',
  windowTooLong: (days: number) => `The interval between StartDate and EndDate can't be longer than ${days} days.`,
  startTooOld: (days: number) => `Invalid StartDate value. The StartDate can't be older than ${days} days from today.`,
  // UNCONFIRMED: the reference says end <= now is enforced (B.3) but records no text.
  endInFuture: "Invalid EndDate value. The EndDate can't be later than the current time.",
  // UNCONFIRMED: start after end; text modelled on the V2 cmdlet family.
  startAfterEnd: 'Invalid StartDate value. The StartDate must be earlier than the EndDate.',
  // UNCONFIRMED (B.7, G.9): the FakeGraph wording.
  throttled: 'Your recent queries have surpassed the permitted limit, please try again later.',
  // B.4, elastic/integrations#18134.
  corruptSkipToken: "Cannot process argument transformation on parameter 'StartDate'",
  servicePrincipalMissing:
    'Service principal-less Authentication failed: the service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found. Please create a service principal for this app in your tenant. Provisioning may take several hours to complete. For details, see: https://learn.microsoft.com/entra/identity-platform/retire-service-principal-less-authentication?branch=main#create-a-service-principal',
  // UNCONFIRMED exact text (B.8): the standard Graph wording.
  forbidden: 'Insufficient privileges to complete the operation.',
  expiredToken: 'Lifetime validation failed, the token is expired.',
  rwsForbidden: 'No permission to access the report for the organization .',
} as const;
