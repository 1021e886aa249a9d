// A pushed authorization request and its code exchange made by panva's
// oauth4webapi, a strict OAuth 2.0 / OpenID Connect client, against the
// authserver. Driven by authserver/strictclient_test.go, which plays the
// browser in between:
//
//   node par.mjs push      -> {"request_uri", "verifier", "state", "nonce"}
//   node par.mjs exchange  -> the token endpoint response, ID token checked
//
// Input in the environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// CLOCK_SKEW (seconds the server's clock is ahead of this one), and for
// exchange CALLBACK_URL, VERIFIER, STATE, NONCE.
import * as oauth from 'oauth4webapi'

const env = process.env
const issuer = new URL(env.ISSUER)
const insecure = { [oauth.allowInsecureRequests]: true } // the test server is http on 127.0.0.1
const as = await oauth.processDiscoveryResponse(issuer,
  await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }))
const client = { client_id: env.CLIENT_ID, [oauth.clockSkew]: Number(env.CLOCK_SKEW || 0) }
const auth = oauth.ClientSecretBasic(env.CLIENT_SECRET)

if (process.argv[2] === 'push') {
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = oauth.generateRandomNonce()
  const params = new URLSearchParams({
    response_type: 'code', redirect_uri: env.REDIRECT_URI, scope: 'openid profile', state, nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  })
  const res = await oauth.pushedAuthorizationRequest(as, client, auth, params, insecure)
  const par = await oauth.processPushedAuthorizationResponse(as, client, res)
  console.log(JSON.stringify({ request_uri: par.request_uri, expires_in: par.expires_in, verifier, state, nonce }))
} else if (process.argv[2] === 'exchange') {
  const callback = oauth.validateAuthResponse(as, client, new URL(env.CALLBACK_URL), env.STATE)
  const res = await oauth.authorizationCodeGrantRequest(as, client, auth, callback, env.REDIRECT_URI, env.VERIFIER, insecure)
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: env.NONCE, requireIdToken: true })
  console.log(JSON.stringify({ access_token: tokens.access_token, token_type: tokens.token_type, scope: tokens.scope,
    sub: oauth.getValidatedIdTokenClaims(tokens).sub }))
} else {
  throw new Error('usage: node par.mjs push|exchange')
}
