// The client's surface as a consumer sees it: options, events, errors, graphql(). The
// `@ts-expect-error` lines are misuses the declarations must reject (tsc fails if they pass).
import {
  createTokenClient,
  GraphQLRequestError,
  isUnauthorized,
  TokenClient,
  TokenError,
  type GraphQLResult,
  type TokenClientOptions,
} from '@gts/graphql-token';

const options: TokenClientOptions = {
  tokenUrl: '/api/graphql-token',
  graphqlUrl: 'https://api.workos.com/client/graphql',
  organizationId: 'org_123',
  marginSeconds: 30,
  refreshAheadSeconds: 5,
  maxAttempts: 4,
  baseBackoffMs: 500,
  maxBackoffMs: 30_000,
  requestTimeoutMs: 10_000,
  // The defaults, passed explicitly: the browser's own objects fit the option types.
  fetch: window.fetch.bind(window),
  now: () => performance.now(),
  dateNow: Date.now,
  setTimeout: window.setTimeout.bind(window),
  clearTimeout: window.clearTimeout.bind(window),
  random: Math.random,
  channel: new BroadcastChannel('graphql-token'),
  locks: navigator.locks,
};

const client: TokenClient = createTokenClient(options).start();
const alone = new TokenClient({ channel: null, locks: null });
alone.stop();

client.addEventListener('token', (event) => {
  const seconds: number = event.detail.expiresIn;
  const organization: string | null = event.detail.organizationId;
  const source: 'fetch' | 'channel' = event.detail.source;
  console.log(seconds, organization, source);
});
client.addEventListener('signedout', (event) => {
  if (event.detail.source === 'fetch') console.log(event.detail.requestId);
  window.location.assign('/login');
});
client.addEventListener('error', (event) => {
  const { status, code, message, requestId } = event.detail;
  console.warn(status, code, message, requestId);
});
client.addEventListener('reset', (event) => {
  const source: 'local' | 'channel' = event.detail.source;
  console.log(source);
});

interface Me {
  me: { id: string; email: string } | null;
}

export async function show(): Promise<string> {
  try {
    const token: string = await client.getToken();
    const fresh: string = await client.refresh();
    client.invalidate(token === fresh ? token : undefined);
    const result: GraphQLResult<Me> = await client.graphql<Me>('{ me { id email } }');
    if (isUnauthorized(result)) return 'signed out';
    return result.errors.map((error) => error.message).join('; ') || (result.data?.me?.email ?? '');
  } catch (err) {
    if (err instanceof TokenError) {
      const retryAfter: number | null = err.retryAfter;
      return `${err.status} ${err.code} ${err.requestId ?? ''} ${retryAfter ?? ''}`;
    }
    if (err instanceof GraphQLRequestError) return `${err.status} ${err.code}`;
    throw err;
  }
}

// @ts-expect-error getToken() resolves to a string, not a number
export const notANumber: Promise<number> = client.getToken();
// @ts-expect-error an unknown option is a typo
createTokenClient({ tokenURL: '/api/graphql-token' });
// @ts-expect-error a token event carries no token
client.addEventListener('token', (event) => console.log(event.detail.token));
// @ts-expect-error variables are an object, not a string
void client.graphql('{ me { id } }', 'id');
