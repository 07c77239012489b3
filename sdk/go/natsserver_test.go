package unitledger

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerBinary finds the nats-server the project's virtualenv ships.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("UNITLEDGER_NATS_SERVER"), "../../.venv/bin/nats-server"}
	if path, err := exec.LookPath("nats-server"); err == nil {
		candidates = append(candidates, path)
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			abs, _ := filepath.Abs(c)
			return abs
		}
	}
	t.Fatal("nats-server not found: run `make install-test` (it ships in the virtualenv) or set UNITLEDGER_NATS_SERVER")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testNATS is a real nats-server with JetStream and token auth, restartable
// on the same port to simulate an outage.
type testNATS struct {
	t     *testing.T
	bin   string
	port  int
	store string
	token string
	cmd   *exec.Cmd
}

func startNATS(t *testing.T, token string) *testNATS {
	t.Helper()
	s := &testNATS{t: t, bin: natsServerBinary(t), port: freePort(t), store: t.TempDir(), token: token}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testNATS) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

func (s *testNATS) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", s.store, "--auth", s.token)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(s.url(), nats.Token(s.token))
		if err == nil {
			nc.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("nats-server did not start on %s", s.url())
}

func (s *testNATS) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
		s.cmd = nil
	}
}

// responder plays the unitledger server's side of docs/protocol.md: it
// creates the buckets, answers reports once per idempotency key, and
// publishes enforcement changes.
type responder struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream

	mu             sync.Mutex
	seen           map[string]*UsageResult
	order          []string
	nextID         int64
	nextQuarantine int64
	dropFirst      int // replies to leave unanswered, to simulate a lost reply
	failNext       *Error
	seq            map[string]int64
}

func newResponder(t *testing.T, server *testNATS) *responder {
	t.Helper()
	r := &responder{t: t, seen: map[string]*UsageResult{}, seq: map[string]int64{}}
	r.connect(server)
	ctx := context.Background()
	for bucket, ttl := range map[string]time.Duration{enforcementBucket: 0, heartbeatBucket: 4 * time.Second} {
		if _, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, TTL: ttl, History: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *responder) connect(server *testNATS) {
	nc, err := nats.Connect(server.url(), nats.Token(server.token), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	r.nc = nc
	r.js, _ = jetstream.New(nc)
	if _, err := nc.QueueSubscribe("unitledger.v1.report.*", "unitledger-ingest", r.handle); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
}

func (r *responder) handle(msg *nats.Msg) {
	var req reportRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		r.t.Errorf("responder got an unreadable request: %v", err)
		return
	}
	if got := msg.Header.Get("Authorization"); got != "Bearer "+testToken {
		r.t.Errorf("Authorization header = %q", got)
	}
	r.mu.Lock()
	var body any
	switch {
	case r.failNext != nil:
		body = map[string]any{"ok": false, "error": r.failNext}
		r.failNext = nil
	case req.Dimensions[uncoveredDimension] > 0:
		r.nextQuarantine++
		quarantine := r.nextQuarantine
		body = map[string]any{"ok": true, "result": &UsageResult{UnitsByDimension: map[string]float64{},
			State: StateOK, ExtensionState: StateDisabled, LicenseIDs: []string{}, QuarantineID: &quarantine,
			Reason: "reports dimension(s) no valid license covers: " + uncoveredDimension}}
	case r.seen[req.IdempotencyKey] != nil:
		first := *r.seen[req.IdempotencyKey]
		first.Duplicate = true
		body = map[string]any{"ok": true, "result": first}
	default:
		r.nextID++
		id := r.nextID
		units := 0.0
		for _, v := range req.Dimensions {
			units += v
		}
		res := &UsageResult{RecordID: &id, Units: units, UnitsByDimension: req.Dimensions,
			State: StateOK, ExtensionState: StateOK, LicenseIDs: []string{"LIC-1"}}
		r.seen[req.IdempotencyKey] = res
		r.order = append(r.order, req.IdempotencyKey)
		body = map[string]any{"ok": true, "result": res}
	}
	drop := r.dropFirst > 0
	if drop {
		r.dropFirst--
	}
	r.mu.Unlock()
	if drop {
		return
	}
	data, _ := json.Marshal(body)
	_ = msg.Respond(data)
}

func (r *responder) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// announce publishes a state change the way the server does: bucket, then broadcast.
func (r *responder) announce(scope, extensionID, state, reason string) StateChange {
	r.t.Helper()
	key, subject := globalKey, globalSubject
	var ext *string
	if scope == "extension" {
		key, subject = extKeyPrefix+extensionID, extSubjectPrefix+extensionID
		ext = &extensionID
	}
	r.mu.Lock()
	r.seq[key]++
	change := StateChange{V: 1, Scope: scope, ExtensionID: ext, State: state, Reason: reason,
		UncoveredDimensions: []string{}, ChangedAt: stamp(time.Now()), Seq: r.seq[key]}
	r.mu.Unlock()
	data, _ := json.Marshal(change)
	kv, err := r.js.KeyValue(context.Background(), enforcementBucket)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), key, data); err != nil {
		r.t.Fatal(err)
	}
	if err := r.nc.Publish(subject, data); err != nil {
		r.t.Fatal(err)
	}
	return change
}

const testToken = "ul_test0000_secret"

// uncoveredDimension is the dimension the responder treats as covered by no license.
const uncoveredDimension = "rows_scanned"

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustConnect(t *testing.T, server *testNATS, opts Options) *Client {
	t.Helper()
	opts.Servers = []string{server.url()}
	if opts.Token == "" {
		opts.Token = testToken
	}
	if opts.ExtensionID == "" {
		opts.ExtensionID = "oracle-cdc"
	}
	client, err := Connect(opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func describe(v any) string { data, _ := json.Marshal(v); return fmt.Sprint(string(data)) }
