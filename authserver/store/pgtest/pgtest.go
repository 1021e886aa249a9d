// Package pgtest gives tests a fresh PostgreSQL database each.
//
// The server is, in that order:
//
//   - the one named by $AUTHOPS_TEST_POSTGRES_DSN (an admin DSN: a role that
//     may CREATE DATABASE), or
//   - a throwaway server started from the machine's PostgreSQL binaries
//     ($AUTHOPS_TEST_POSTGRES_BIN, /usr/lib/postgresql/15/bin, the newest
//     /usr/lib/postgresql/*/bin, or initdb and postgres on $PATH). It lives
//     in a temporary directory, listens on 127.0.0.1 on a free port (and a
//     Unix socket in the temporary directory, and the addresses of
//     [ListenAlso]), runs with fsync=off,
//     requires a password over TCP, and runs as user "postgres" (through
//     runuser) when the tests run as root, since PostgreSQL refuses root.
//     It is started once per test binary, on first use, and stopped (fast
//     shutdown) and removed by [Main]. Tests may stop and start it again
//     for real ([StopServer], [StartServer], [Restart]): same data
//     directory, same port.
//
// If neither exists, tests that need PostgreSQL are skipped, loudly: the
// reason goes to stderr as well as to t.Skip. With
// $AUTHOPS_REQUIRE_POSTGRES=1 (CI) they fail instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables.
const (
	EnvDSN     = "AUTHOPS_TEST_POSTGRES_DSN"
	EnvRequire = "AUTHOPS_REQUIRE_POSTGRES"
	EnvBinDir  = "AUTHOPS_TEST_POSTGRES_BIN"
)

// Database is a fresh, empty database, dropped when the test ends.
type Database struct {
	// DSN connects to the database, password included.
	DSN string
	// DSNWithoutPassword is DSN without the password.
	DSNWithoutPassword string
	Name               string
	User               string
	Password           string
	// PasswordRequired is true when the server is known to refuse
	// connections without the password (the auto-started server).
	PasswordRequired bool
}

// Main runs the tests and then stops the server that NewDatabase started,
// if any. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stopping PostgreSQL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

type source int

const (
	sourceNone source = iota
	sourceEnv
	sourceBinaries
)

// decision says what to do when asked for a database.
type decision struct {
	src  source
	skip bool   // skip the test
	fail bool   // fail the test
	msg  string // why
}

// decide is the policy: use the DSN if set, else the binaries if found,
// else skip, or fail when PostgreSQL is required.
func decide(dsn string, binDir string, binErr error, require bool) decision {
	switch {
	case dsn != "":
		return decision{src: sourceEnv}
	case binDir != "":
		return decision{src: sourceBinaries}
	}
	msg := fmt.Sprintf("PostgreSQL tests NOT RUN: %s is not set and no PostgreSQL server binaries were found (%v); "+
		"install PostgreSQL (e.g. apt-get install postgresql-15) or set %s", EnvDSN, binErr, EnvDSN)
	if require {
		return decision{fail: true, msg: msg + fmt.Sprintf(" — failing because %s=1", EnvRequire)}
	}
	return decision{skip: true, msg: msg}
}

var (
	mu         sync.Mutex
	listenAlso []string // extra listen addresses, each with the client CIDR it admits
	started    *server
	startErr   error
	startTried bool
	warnOnce   sync.Once
	dbCounter  atomic.Int64
)

// NewDatabase creates a fresh database for the test and drops it when the
// test ends. See the package documentation for where the server comes from.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	binDir, binErr := findBinaries()
	d := decide(dsn, binDir, binErr, os.Getenv(EnvRequire) == "1")
	switch {
	case d.fail:
		t.Fatal(d.msg)
	case d.skip:
		warnOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "\n*** pgtest: %s ***\n\n", d.msg)
		})
		t.Skip(d.msg)
	}

	admin, err := toURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	passwordRequired := false
	if d.src == sourceBinaries {
		mu.Lock()
		if !startTried {
			startTried = true
			started, startErr = start(binDir)
		}
		s, err := started, startErr
		mu.Unlock()
		if err != nil {
			t.Fatalf("pgtest: starting PostgreSQL from %s: %v", binDir, err)
		}
		admin = s.adminDSN
		passwordRequired = true
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("authops_test_%d_%s", dbCounter.Add(1), randHex(4))
	if err := adminExec(ctx, admin, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q := `DROP DATABASE IF EXISTS ` + pgx.Identifier{name}.Sanitize()
		if err := adminExec(ctx, admin, q+` WITH (FORCE)`); err != nil {
			// Servers before 13 have no FORCE.
			if err2 := adminExec(ctx, admin, q); err2 != nil {
				t.Errorf("pgtest: drop database %s: %v", name, err)
			}
		}
	})

	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatalf("pgtest: parse admin DSN: %v", err)
	}
	full, err := withDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := withoutPassword(full)
	if err != nil {
		t.Fatal(err)
	}
	return &Database{
		DSN:                full,
		DSNWithoutPassword: bare,
		Name:               name,
		User:               cfg.User,
		Password:           cfg.Password,
		PasswordRequired:   passwordRequired,
	}
}

func adminExec(ctx context.Context, dsn, q string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, q)
	return err
}

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// toURL turns a libpq keyword/value DSN into a postgres:// URL (every
// keyword becomes a query parameter, which pgx and libpq accept), since
// store.Open takes URLs only. URLs are returned unchanged.
func toURL(dsn string) (string, error) {
	if isURL(dsn) {
		return dsn, nil
	}
	kv, err := parseKeywordValue(dsn)
	if err != nil {
		return "", fmt.Errorf("pgtest: %s: %w", EnvDSN, err)
	}
	u := &url.URL{Scheme: "postgres", Path: "/"}
	q := url.Values{}
	for k, v := range kv {
		if k == "dbname" {
			u.Path = "/" + v
			continue
		}
		q.Set(k, v)
	}
	u.RawQuery = encodeQuery(q)
	return u.String(), nil
}

// parseKeywordValue parses "k=v k2='v 2'" (libpq conninfo syntax).
func parseKeywordValue(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("invalid keyword/value DSN")
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			s = s[1:]
		}
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				val.WriteByte(s[i])
				continue
			}
			if (quoted && c == '\'') || (!quoted && (c == ' ' || c == '\t')) {
				break
			}
			val.WriteByte(c)
		}
		if quoted {
			if i == len(s) {
				return nil, errors.New("unterminated quoted value in DSN")
			}
			i++
		}
		out[key] = val.String()
		s = strings.TrimLeft(s[i:], " \t")
	}
	return out, nil
}

// encodeQuery encodes spaces as %20: pgx does not read '+' as a space.
func encodeQuery(q url.Values) string { return strings.ReplaceAll(q.Encode(), "+", "%20") }

func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("pgtest: %s is not a valid URL", EnvDSN)
	}
	u.Path = "/" + name
	u.RawPath = ""
	q := u.Query()
	if q.Has("dbname") {
		q.Del("dbname")
		u.RawQuery = encodeQuery(q)
	}
	return u.String(), nil
}

func withoutPassword(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("pgtest: %s is not a valid URL", EnvDSN)
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = encodeQuery(q)
	}
	return u.String(), nil
}

// findBinaries returns the directory with initdb and postgres.
func findBinaries() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s has no initdb and postgres", EnvBinDir, dir)
	}
	if dir := "/usr/lib/postgresql/15/bin"; has(dir) {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
	}
	return "", errors.New("looked in $" + EnvBinDir + ", /usr/lib/postgresql/*/bin and $PATH")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- the throwaway server ---

type server struct {
	dir      string // temporary directory: data/, socket, log
	dataDir  string
	logPath  string
	binDir   string
	port     int
	adminDSN string
	cmd      *exec.Cmd
	exited   chan struct{}
	running  bool       // between launch and shutdown
	asUser   *user.User // nil when not root
	// listenAlso holds the pairs of ListenAlso: address, client CIDR.
	listenAlso []string
}

// admit adds the client CIDRs of ListenAlso to pg_hba.conf (password
// only) and records the extra listen addresses.
func (s *server) admit() error {
	s.listenAlso = append([]string(nil), listenAlso...)
	f, err := os.OpenFile(filepath.Join(s.dataDir, "pg_hba.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := 0; i+1 < len(s.listenAlso); i += 2 {
		if _, err := fmt.Fprintf(f, "host all all %s scram-sha-256\n", s.listenAlso[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// ListenAlso makes the throwaway server, when it starts, listen on addr
// as well (an address of this machine, such as the node address of a test
// cluster) and admit password connections from clientCIDR (the cluster's
// pod network). Call it before the first [NewDatabase]; it has no effect on
// a server already started or on the one $AUTHOPS_TEST_POSTGRES_DSN names.
func ListenAlso(addr, clientCIDR string) {
	mu.Lock()
	defer mu.Unlock()
	listenAlso = append(listenAlso, addr, clientCIDR)
}

// Stop stops the server started by NewDatabase, if any, and removes its
// directory. Main calls it.
func Stop() error {
	mu.Lock()
	defer mu.Unlock()
	if started == nil {
		return nil
	}
	err := started.stop()
	started = nil
	return err
}

// ErrExternalServer is returned by [StopServer], [StartServer] and
// [Restart] when the server is not one pgtest started: the one named by
// $AUTHOPS_TEST_POSTGRES_DSN, which pgtest cannot stop.
var ErrExternalServer = errors.New("pgtest: PostgreSQL is the external server named by $" + EnvDSN + "; pgtest cannot stop or restart it")

// External reports whether the tests use the server named by
// $AUTHOPS_TEST_POSTGRES_DSN, which cannot be restarted.
func External() bool { return os.Getenv(EnvDSN) != "" }

// StopServer stops the throwaway server (fast shutdown: SIGINT to the
// postmaster, as pg_ctl stop -m fast does) and waits until it has exited.
// Its data directory, port and password stay, for [StartServer]. Every
// connection is closed and new ones are refused until then. Call it only
// after [NewDatabase]; stopping a stopped server does nothing.
func StopServer() error {
	mu.Lock()
	defer mu.Unlock()
	if External() {
		return ErrExternalServer
	}
	if started == nil {
		return errors.New("pgtest: no server started (call NewDatabase first)")
	}
	return started.shutdown()
}

// StartServer starts the server stopped by [StopServer] again, on the same
// data directory and port, and waits until it accepts connections. Starting
// a running server does nothing.
func StartServer() error {
	mu.Lock()
	defer mu.Unlock()
	if External() {
		return ErrExternalServer
	}
	if started == nil {
		return errors.New("pgtest: no server started (call NewDatabase first)")
	}
	if started.running {
		return nil
	}
	return started.launch()
}

// Restart is [StopServer] followed by [StartServer].
func Restart() error {
	if err := StopServer(); err != nil {
		return err
	}
	return StartServer()
}

// command runs name from binDir, as user postgres when we are root.
func (s *server) command(binDir, name string, args ...string) *exec.Cmd {
	path := filepath.Join(binDir, name)
	var cmd *exec.Cmd
	if s.asUser != nil {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser.Username, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	return cmd
}

func start(binDir string) (_ *server, err error) {
	dir, err := os.MkdirTemp("", "authops-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, dataDir: filepath.Join(dir, "data")}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		s.asUser = u
		defer func() {
			if err != nil {
				_ = os.Chown(dir, 0, 0)
			}
		}()
	}

	password := randHex(16)
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if s.asUser != nil {
		uid, _ := strconv.Atoi(s.asUser.Uid)
		gid, _ := strconv.Atoi(s.asUser.Gid)
		if err := os.Chown(pwFile, uid, gid); err != nil {
			return nil, err
		}
	}
	initdb := s.command(binDir, "initdb", "-D", s.dataDir, "-U", "postgres", "--pwfile="+pwFile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	_ = os.Remove(pwFile)
	if len(listenAlso) > 0 {
		if err := s.admit(); err != nil {
			return nil, err
		}
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.binDir, s.port = binDir, port
	s.logPath = filepath.Join(dir, "postgres.log")
	s.adminDSN = (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}).String()
	if err := s.launch(); err != nil {
		return nil, err
	}
	return s, nil
}

// launch starts the postmaster on s.dataDir and s.port and waits until it
// accepts connections. The log is appended to.
func (s *server) launch() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	listen := []string{"127.0.0.1"}
	for i := 0; i+1 < len(s.listenAlso); i += 2 {
		listen = append(listen, s.listenAlso[i])
	}
	s.cmd = s.command(s.binDir, "postgres", "-D", s.dataDir,
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses="+strings.Join(listen, ","),
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
	)
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	// If the test binary dies, runuser (or postgres) gets SIGTERM, which
	// runuser passes on and which makes postgres shut down.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := adminExec(ctx, s.adminDSN, "SELECT 1")
		cancel()
		if err == nil {
			s.running = true
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("postgres exited during start-up:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.running = true
			_ = s.shutdown()
			log, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("postgres did not accept connections within 60s (last error: %v):\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts the server down (see shutdown) and removes the directory.
func (s *server) stop() error {
	err := s.shutdown()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// shutdown asks the postmaster for a fast shutdown (SIGINT, as pg_ctl -m
// fast does), waits for it, and kills it if it does not stop. The data
// directory stays.
func (s *server) shutdown() error {
	if !s.running {
		return nil
	}
	s.running = false
	var errs []error
	if pid, err := s.postmasterPID(); err == nil {
		_ = syscall.Kill(pid, syscall.SIGINT)
	} else if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		errs = append(errs, errors.New("postgres did not stop within 30s; killed"))
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		if pid, err := s.postmasterPID(); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-s.exited
	}
	return errors.Join(errs...)
}

func (s *server) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}
