// A plain fetch to the Widgets API (the WorkOS Client GraphQL API) with the token as Bearer;
// what `client.graphql()` does for you, written out.
import { isUnauthorized, TokenClient } from '@gts/graphql-token';

const WIDGETS_API = 'https://api.workos.com/client/graphql';
const client = new TokenClient();

async function post(token: string, query: string): Promise<Response> {
  return fetch(WIDGETS_API, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query }),
    credentials: 'omit', // the token is the credential; never send this site's cookies to WorkOS
  });
}

export async function whoAmI(): Promise<unknown> {
  const query = '{ me { id email } }';
  let token = await client.getToken();
  let response = await post(token, query);
  let result = await response.json();
  // WorkOS reports an expired or refused token as HTTP 200 with errors: [{message: "Unauthorized"}].
  if (isUnauthorized({ status: response.status, ...result })) {
    client.invalidate(token);
    token = await client.getToken();
    response = await post(token, query);
    result = await response.json();
  }
  return result.data;
}
