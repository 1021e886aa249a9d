// Copyright 2026 The authops Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The strict-client check of test/e2e/strictclient_test.go: panva's
// oauth4webapi (pinned in package.json) runs against authops, and any
// deviation from the RFCs it checks (metadata, PAR, DPoP, ID tokens,
// token and introspection responses) fails the run.
//
// It prints one JSON line per step on stdout. After the "authorize" step it
// waits for one line on stdin: the callback URL the browser ended on (the
// Go test plays the person at the login and consent pages).
//
// Environment: ISSUER; WEB_CLIENT_ID, WEB_CLIENT_SECRET, REDIRECT_URI (a
// Confidential client with authorization_code and refresh_token, under a
// policy that requires PAR and DPoP); JWT_CLIENT_ID, JWT_PRIVATE_JWK (a
// private_key_jwt client with client_credentials, the private key as a
// JWK); SCOPE (of the client_credentials request).
import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const out = (step, fields) => console.log(JSON.stringify({ step, ...fields }))
const insecure = { [oauth.allowInsecureRequests]: true } // the test server is http on loopback

// withNonce runs a request and its processing, once more if the server
// answered use_dpop_nonce (the DPoP handle has kept the new nonce).
async function withNonce(what, f) {
  try {
    return await f()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    out('nonce', { what })
    return await f()
  }
}

const issuer = new URL(env('ISSUER'))
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
for (const field of ['pushed_authorization_request_endpoint', 'dpop_signing_alg_values_supported']) {
  if (!as[field]) throw new Error(`the metadata has no ${field}`)
}
out('discovery', { issuer: as.issuer, par: as.pushed_authorization_request_endpoint, dpop_algs: as.dpop_signing_alg_values_supported })

// client_credentials: private_key_jwt and a DPoP-bound token.
{
  const client = { client_id: env('JWT_CLIENT_ID') }
  const jwk = JSON.parse(env('JWT_PRIVATE_JWK'))
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  const auth = oauth.PrivateKeyJwt({ key, kid: jwk.kid })
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  const tok = await withNonce('client_credentials', async () => oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: env('SCOPE') }, { DPoP, ...insecure })))
  if (tok.token_type !== 'dpop') throw new Error(`client_credentials token_type ${tok.token_type}, want DPoP`)
  out('client_credentials', { token_type: tok.token_type, expires_in: tok.expires_in, scope: tok.scope })
}

// The authorization code flow: PAR, PKCE, DPoP from the push to userinfo.
const client = { client_id: env('WEB_CLIENT_ID') }
const auth = oauth.ClientSecretBasic(env('WEB_CLIENT_SECRET'))
const redirectURI = env('REDIRECT_URI')
const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
const verifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const nonce = oauth.generateRandomNonce()
const pushed = await withNonce('par', async () => oauth.processPushedAuthorizationResponse(as, client,
  await oauth.pushedAuthorizationRequest(as, client, auth, {
    response_type: 'code', redirect_uri: redirectURI, scope: 'openid profile', state, nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, { DPoP, ...insecure })))
const authorize = new URL(as.authorization_endpoint)
authorize.searchParams.set('client_id', client.client_id)
authorize.searchParams.set('request_uri', pushed.request_uri)
out('authorize', { url: authorize.href, expires_in: pushed.expires_in })

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const callback = new URL((await lines.next()).value)
const params = oauth.validateAuthResponse(as, client, callback, state)

const tok = await withNonce('authorization_code', async () => oauth.processAuthorizationCodeResponse(as, client,
  await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectURI, verifier, { DPoP, ...insecure }),
  { expectedNonce: nonce, requireIdToken: true }))
if (tok.token_type !== 'dpop' || !tok.refresh_token) throw new Error(`code exchange: token_type ${tok.token_type}, refresh token ${!!tok.refresh_token}`)
const claims = oauth.getValidatedIdTokenClaims(tok)
out('authorization_code', { token_type: tok.token_type, sub: claims.sub, scope: tok.scope })

const refreshed = await withNonce('refresh_token', async () => oauth.processRefreshTokenResponse(as, client,
  await oauth.refreshTokenGrantRequest(as, client, auth, tok.refresh_token, { DPoP, ...insecure })))
if (refreshed.token_type !== 'dpop') throw new Error(`refresh: token_type ${refreshed.token_type}`)
out('refresh_token', { token_type: refreshed.token_type, rotated: refreshed.refresh_token !== tok.refresh_token })

const info = await withNonce('userinfo', async () => oauth.processUserInfoResponse(as, client, claims.sub,
  await oauth.userInfoRequest(as, client, refreshed.access_token, { DPoP, ...insecure })))
out('userinfo', { sub: info.sub })

const intro = await oauth.processIntrospectionResponse(as, client,
  await oauth.introspectionRequest(as, client, auth, refreshed.access_token, insecure))
if (!intro.active || !intro.cnf?.jkt) throw new Error(`introspection: active ${intro.active}, cnf ${JSON.stringify(intro.cnf)}`)
out('introspection', { active: intro.active, token_type: intro.token_type, jkt: intro.cnf.jkt })
out('done', {})
process.exit(0)
