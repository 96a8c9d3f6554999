import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './gateway.js';

export type { components, operations, paths } from './gateway.js';

/** A client whose paths, bodies and answers are typed from openapi/gateway.yaml. */
export type GatewayClient = Client<paths>;

export interface GatewayClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the gateway is, e.g. `https://onetrip.example.gov.cn` (no trailing `/v1`). */
  baseUrl: string;
  /**
   * Supplies the bearer token for each call (cache it and refresh it before `expires_in` runs out).
   * Without it the caller passes `headers: { authorization }` per call, as the token request does.
   */
  accessToken?: () => string | Promise<string>;
}

/**
 * A typed client for the gateway (openapi-fetch over the generated `./gateway.d.ts`):
 * `client.POST('/v1/cases', { body })` is checked against the contract at compile time.
 */
export function createGatewayClient({ accessToken, ...options }: GatewayClientOptions): GatewayClient {
  const client = createClient<paths>(options);
  if (accessToken) {
    client.use({
      async onRequest({ request, schemaPath }) {
        // The token endpoint authenticates with client credentials, never with a bearer token.
        if (schemaPath !== '/v1/auth/token' && !request.headers.has('authorization')) {
          request.headers.set('authorization', `Bearer ${await accessToken()}`);
        }
        return request;
      },
    });
  }
  return client;
}
