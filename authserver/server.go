/*
Copyright 2026 The authops Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package authserver is the authops OAuth 2.0 authorization server: the
// data plane. Its request path knows nothing of CRDs (only package feedback,
// which writes what the data plane observes into the objects' status, uses
// the API types): every request reads the current compiled snapshot
// (package registry) once and the runtime state store (package store), and
// answers with the documented errors of package oautherr. The token
// endpoint dispatches to one grant per grant type (grantTable); package
// tokens mints and verifies the JWTs. See docs/authserver.md.
package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/tokens"
)

// Endpoint paths, relative to the issuer.
const (
	PathAuthorize  = "/oauth2/authorize"
	PathToken      = "/oauth2/token"
	PathJWKS       = "/oauth2/jwks"
	PathUserinfo   = "/oauth2/userinfo"
	PathIntrospect = "/oauth2/introspect"
	PathRevoke     = "/oauth2/revoke"
	// PathLogout is the end-session endpoint (OpenID Connect RP-Initiated
	// Logout 1.0).
	PathLogout = "/oauth2/logout"
	// PathDeviceAuthorization is RFC 8628's device authorization endpoint.
	PathDeviceAuthorization = "/oauth2/device_authorization"
	// PathPushedAuthorizationRequest is RFC 9126's pushed authorization
	// request endpoint.
	PathPushedAuthorizationRequest = "/oauth2/par"
	// PathDevice is the verification page where people enter a user code.
	PathDevice         = "/device"
	PathOAuthMetadata  = "/.well-known/oauth-authorization-server"
	PathOpenIDMetadata = "/.well-known/openid-configuration"
)

// Config configures a Server.
type Config struct {
	// Issuer is the issuer identifier: an https URL (http only on a loopback
	// host), no query, no fragment, no trailing slash. Endpoints live under
	// its path.
	Issuer string
	// Registry holds the current compiled snapshot.
	Registry *registry.Holder
	// Store keeps the runtime state.
	Store store.Store
	// Clock is the time every decision uses (default: the system clock).
	Clock store.Clock
	// DefaultProfile is the error profile used before a client is known
	// (and for clients whose policy names none).
	DefaultProfile oautherr.Profile
	// Log receives structured logs; never secrets, tokens or codes.
	Log *slog.Logger
	// Metrics, if set, counts requests.
	Metrics *Metrics
	// SessionLifetime is how long a login session lasts (default 8h).
	SessionLifetime time.Duration
	// ConsentLifetime is how long a remembered consent lasts (default 1 year).
	ConsentLifetime time.Duration
	// Feedback, if set, hears what only the data plane sees (package
	// feedback writes it into the objects' status).
	Feedback Feedback
	// Limits throttles failed attempts per source (see Limits); zero
	// fields take the defaults.
	Limits Limits
	// TrustedProxies are the networks of the reverse proxies in front of
	// the server (an Ingress controller's pods). A request whose peer is in
	// one of them has its source taken from ForwardedHeader: the rightmost
	// entry that is not itself a trusted proxy. Requests from other peers
	// are their peer, whatever headers they send. Empty (the default):
	// every request is its peer.
	TrustedProxies []netip.Prefix
	// ForwardedHeader is the header the trusted proxies append the address
	// of their peer to: "X-Forwarded-For" (the default) or "Forwarded"
	// (RFC 7239, its for= parameters). Only this one is read: a proxy
	// passes the other through as the client sent it.
	ForwardedHeader string
	// ServiceAccountKeys are the cluster's ServiceAccount token keys
	// (package kubeissuer), for clients that authenticate as a
	// ServiceAccount (workload identity); nil: such clients get
	// invalid_client.
	ServiceAccountKeys ServiceAccountKeys
}

// Feedback receives observations about the objects of the snapshot.
type Feedback interface {
	// ClientError: an error response (its code as sent) to a known client.
	ClientError(client snapshot.Source, code oautherr.Code)
	// AccountLocked: the account is locked until the given time.
	AccountLocked(account snapshot.Source, until time.Time)
	// LoginSucceeded: the account logged in (page or password grant).
	LoginSucceeded(account snapshot.Source, at time.Time)
}

type noFeedback struct{}

func (noFeedback) ClientError(snapshot.Source, oautherr.Code) {}
func (noFeedback) AccountLocked(snapshot.Source, time.Time)   {}
func (noFeedback) LoginSucceeded(snapshot.Source, time.Time)  {}

// Server serves the OAuth 2.0 endpoints.
type Server struct {
	issuer       string
	issuerURL    *url.URL
	origin       string
	secureCookie bool
	reg          *registry.Holder
	store        store.Store
	clock        store.Clock
	profile      oautherr.Profile
	log          *slog.Logger
	metrics      *Metrics
	sessionTTL   time.Duration
	consentTTL   time.Duration
	limits       limits
	proxies      proxies
	feedback     Feedback
	// tokens mints and verifies the JWTs.
	tokens *tokens.Service
	// clientAuth authenticates clients (behind the ClientAuth limit).
	clientAuth clientAuthenticator
	// dpop checks DPoP proofs and issues DPoP nonces (RFC 9449).
	dpop *dpopVerifier
	// passwords checks account passwords (behind the Login limit).
	passwords *passwords
	// grants serves each grant type of the token endpoint (grantTable).
	grants map[string]grant
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(cfg.Issuer, "/") {
		return nil, fmt.Errorf("issuer %q must be an absolute URL without query, fragment, userinfo or trailing slash", cfg.Issuer)
	}
	loopback := isLoopback(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback:
	default:
		return nil, fmt.Errorf("issuer %q must use https (http is allowed only on a loopback host)", cfg.Issuer)
	}
	if cfg.Registry == nil || cfg.Store == nil {
		return nil, errors.New("registry and store are required")
	}
	s := &Server{
		issuer:       cfg.Issuer,
		issuerURL:    u,
		origin:       u.Scheme + "://" + u.Host,
		secureCookie: u.Scheme == "https",
		reg:          cfg.Registry,
		store:        cfg.Store,
		clock:        cfg.Clock,
		profile:      cfg.DefaultProfile,
		log:          cfg.Log,
		metrics:      cfg.Metrics,
		sessionTTL:   cfg.SessionLifetime,
		consentTTL:   cfg.ConsentLifetime,
		feedback:     cfg.Feedback,
	}
	s.limits = newLimits(cfg.Limits)
	s.proxies = proxies{trusted: cfg.TrustedProxies, header: http.CanonicalHeaderKey(cfg.ForwardedHeader)}
	switch s.proxies.header {
	case "":
		s.proxies.header = HeaderXForwardedFor
	case HeaderXForwardedFor, HeaderForwarded:
	default:
		return nil, fmt.Errorf("forwarded header %q: want %s or %s", cfg.ForwardedHeader, HeaderXForwardedFor, HeaderForwarded)
	}
	if s.feedback == nil {
		s.feedback = noFeedback{}
	}
	if s.clock == nil {
		s.clock = store.SystemClock{}
	}
	if s.profile == "" {
		s.profile = oautherr.Extended
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = 8 * time.Hour
	}
	if s.consentTTL <= 0 {
		s.consentTTL = 365 * 24 * time.Hour
	}
	dummyBcrypt() // computed now, so the first unknown username costs no more than later ones
	s.tokens = tokens.New(s.issuer)
	s.clientAuth = newClientAuthenticator(s.clock, s.limits.clientAuth, &assertionVerifier{
		audiences: []string{s.issuer, s.issuer + PathToken, s.issuer + PathPushedAuthorizationRequest}, store: s.store, clock: s.clock, cluster: cfg.ServiceAccountKeys})
	s.dpop = &dpopVerifier{jtis: s.store, clock: s.clock, nonces: &dpopNonces{}}
	s.passwords = &passwords{lockouts: s.store, limit: s.limits.login, clock: s.clock, log: s.log, feedback: s.feedback,
		metrics: s.metrics, compare: bcrypt.CompareHashAndPassword}
	s.grants = newGrants(grantDeps{store: s.store, tokens: s.tokens, passwords: s.passwords, log: s.log})
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	p := s.issuerURL.Path
	get := []string{http.MethodGet, http.MethodHead}
	getPost := []string{http.MethodGet, http.MethodPost} // no HEAD: authorize has side effects
	post := []string{http.MethodPost}
	mux.Handle(p+PathAuthorize, s.endpoint("authorize", getPost, s.defaultProfile, s.authorize))
	mux.Handle(p+PathToken, s.endpoint("token", post, s.namedClientProfile, s.token))
	mux.Handle(p+PathJWKS, s.endpoint("jwks", get, s.defaultProfile, s.jwks))
	mux.Handle(p+PathUserinfo, s.endpoint("userinfo", getPost, s.defaultProfile, s.userinfo))
	mux.Handle(p+PathIntrospect, s.endpoint("introspect", post, s.namedClientProfile, s.introspect))
	mux.Handle(p+PathRevoke, s.endpoint("revoke", post, s.namedClientProfile, s.revoke))
	mux.Handle(p+PathDeviceAuthorization, s.endpoint("device_authorization", post, s.namedClientProfile, s.deviceAuthorization))
	mux.Handle(p+PathPushedAuthorizationRequest, s.endpoint("par", post, s.namedClientProfile, s.pushAuthorizationRequest))
	mux.Handle(p+PathDevice, s.endpoint("device", getPost, s.defaultProfile, s.devicePage))
	mux.Handle(p+PathLogout, s.endpoint("logout", getPost, s.defaultProfile, s.logout))
	mux.Handle(p+PathOAuthMetadata, s.endpoint("metadata", get, s.defaultProfile, s.metadata))
	mux.Handle(p+PathOpenIDMetadata, s.endpoint("metadata", get, s.defaultProfile, s.metadata))
	if p != "" {
		// RFC 8414 §3: the well-known segment goes between host and path.
		mux.Handle(PathOAuthMetadata+p, s.endpoint("metadata", get, s.defaultProfile, s.metadata))
	}
	return mux
}

// reqInfo collects what the metrics and the request log need to know.
type reqInfo struct {
	grantType string
	errCode   oautherr.Code
	clientID  string
	// source is the caller's address as the rate limits see it.
	source string
	// retryAfter, when set, goes into the Retry-After header of a 429.
	retryAfter time.Duration
}

type infoKey struct{}

// requestInfo is the request's reqInfo (set by the endpoint wrapper); a
// throwaway one outside a request.
func requestInfo(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	ri     *reqInfo
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if code == http.StatusTooManyRequests && w.ri != nil {
		setRetryAfter(w.Header(), w.ri.retryAfter)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// endpoint wraps a handler: the method check (not_supported with Allow on
// every endpoint, in the profile methodProfile picks), common headers,
// metrics and the request log.
func (s *Server) endpoint(name string, methods []string, methodProfile func(*http.Request) oautherr.Profile, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{source: s.proxies.source(r)}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		sw := &statusWriter{ResponseWriter: w, ri: ri}
		sw.Header().Set("X-Content-Type-Options", "nosniff")
		if !slices.Contains(methods, r.Method) {
			s.writeError(sw, r, oautherr.Method(methods...), methodProfile(r))
		} else {
			h(sw, r)
		}
		if s.metrics != nil {
			s.metrics.observe(name, ri.grantType, ri.errCode, time.Since(start))
		}
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			return // the attributes below cost allocations on every request
		}
		attrs := []any{"endpoint", name, "method", r.Method, "status", sw.status, "durationMs", time.Since(start).Milliseconds()}
		if ri.clientID != "" {
			attrs = append(attrs, "clientID", ri.clientID)
		}
		if ri.grantType != "" {
			attrs = append(attrs, "grantType", ri.grantType)
		}
		if ri.errCode != "" {
			attrs = append(attrs, "error", string(ri.errCode))
		}
		s.log.Debug("request", attrs...)
	})
}

// defaultProfile is the server's default error profile, for endpoints
// whose callers are not clients.
func (s *Server) defaultProfile(*http.Request) oautherr.Profile { return s.profile }

// namedClientProfile is the error profile of the client a request to an
// endpoint with client authentication names without a body being read
// (a wrong method is answered before the form is parsed): the Basic user
// name, form-urlencoded (RFC 6749 §2.3.1), else a client_id query
// parameter. The server's default when it names no known client. Naming
// a client only picks the shape of the error, it authenticates nothing.
func (s *Server) namedClientProfile(r *http.Request) oautherr.Profile {
	id := presentedClientID(r, params{"client_id": r.URL.Query().Get("client_id")})
	if id == "" {
		return s.profile
	}
	if c, ok := s.reg.Current().Client(id); ok {
		return c.Profile()
	}
	return s.profile
}

// writeError sends e as JSON under profile p (see package oautherr) and
// logs its internal cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *oautherr.Error, p oautherr.Profile) {
	resp := oautherr.Write(w, e, p, s.issuer)
	ri := requestInfo(r.Context())
	ri.errCode = e.Code
	s.clientError(ri.clientID, resp.Body.Error)
	if e.Cause != nil {
		level := slog.LevelInfo
		if resp.Status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request failed", "path", r.URL.Path, "error", string(e.Code), "cause", e.Cause.Error())
	}
}

// clientError tells the feedback about an error sent to a known client.
func (s *Server) clientError(clientID string, code oautherr.Code) {
	if clientID == "" {
		return
	}
	if c, ok := s.reg.Current().Client(clientID); ok {
		s.feedback.ClientError(c.Source, code)
	}
}

// serverError wraps an infrastructure failure: temporarily_unavailable
// (503) when the store cannot be reached (see unavailable), else
// server_error (500).
func serverError(err error) *oautherr.Error {
	if unavailable(err) {
		return oautherr.New(oautherr.TemporarilyUnavailable).WithCause(err)
	}
	return oautherr.New(oautherr.ServerError).WithCause(err)
}

// newSecret returns 256 random bits in base64url: authorization codes,
// refresh tokens, session IDs and CSRF tokens.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("authserver: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newID() string { return store.NewID() }
