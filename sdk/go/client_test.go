package unitledger

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestReportReturnsTheServersResult(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	client := mustConnect(t, server, Options{})

	res, err := client.ReportUsage(map[string]float64{"tables_replicated": 5, "bytes_transferred_gb": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Units != 6.5 || res.RecordID == nil || res.Buffered || res.Duplicate {
		t.Fatalf("unexpected result %s", describe(res))
	}
	if got := r.recorded(); len(got) != 1 || got[0] != res.IdempotencyKey || len(res.IdempotencyKey) != 32 {
		t.Fatalf("server recorded %v, result key %q", got, res.IdempotencyKey)
	}
}

func TestLostReplyIsRetriedWithTheSameKeyAndCountedOnce(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	r.dropFirst = 1
	var replayed []*UsageResult
	done := make(chan struct{})
	client := mustConnect(t, server, Options{RequestTimeout: 300 * time.Millisecond,
		OnReplay: func(_ string, res *UsageResult, err error) {
			if err != nil {
				t.Errorf("replay failed: %v", err)
			}
			replayed = append(replayed, res)
			close(done)
		}})

	res, err := client.ReportUsage(map[string]float64{"tables_replicated": 5})
	if err != nil || !res.Buffered {
		t.Fatalf("want a buffered result, got %s, %v", describe(res), err)
	}
	<-done
	if len(r.recorded()) != 1 || !replayed[0].Duplicate || replayed[0].IdempotencyKey != res.IdempotencyKey {
		t.Fatalf("recorded %v, replayed %s", r.recorded(), describe(replayed))
	}
}

func TestReportsDuringAnOutageAreReplayedInOrderOnce(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	client := mustConnect(t, server, Options{RequestTimeout: 300 * time.Millisecond})
	if _, err := client.ReportUsage(map[string]float64{"tables_replicated": 1}); err != nil {
		t.Fatal(err)
	}

	server.stop()
	var keys []string
	for i := 0; i < 5; i++ {
		res, err := client.ReportUsage(map[string]float64{"tables_replicated": float64(i + 2)})
		if err != nil || !res.Buffered {
			t.Fatalf("report %d during the outage: %s, %v", i, describe(res), err)
		}
		keys = append(keys, res.IdempotencyKey)
	}
	if client.Buffered() != 5 {
		t.Fatalf("buffered = %d, want 5", client.Buffered())
	}
	server.start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.recorded()[1:]
	if describe(got) != describe(keys) {
		t.Fatalf("replayed %v, want %v", got, keys)
	}
}

func TestFullBufferRefusesTheReport(t *testing.T) {
	server := startNATS(t, testToken)
	newResponder(t, server)
	client := mustConnect(t, server, Options{RequestTimeout: 100 * time.Millisecond, BufferSize: 2})
	server.stop()
	for i := 0; i < 2; i++ {
		if _, err := client.ReportUsage(map[string]float64{"rows": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.ReportUsage(map[string]float64{"rows": 1}); !errors.Is(err, ErrBufferFull) {
		t.Fatalf("want ErrBufferFull, got %v", err)
	}
}

func TestServerErrorIsTypedWithTheServersMessage(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	client := mustConnect(t, server, Options{})
	r.failNext = &Error{Code: "idempotency_conflict", Status: 409, Title: "Idempotency key reused with a different report",
		Detail: "idempotency key k1 was already used for another report"}

	_, err := client.ReportUsage(map[string]float64{"rows": 1})
	var typed *Error
	if !errors.As(err, &typed) || !errors.Is(err, ErrIdempotencyConflict) || !errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
		t.Fatalf("want an idempotency conflict, got %#v", err)
	}
	if err.Error() != "idempotency key k1 was already used for another report" {
		t.Fatalf("message = %q", err.Error())
	}
}

func TestRetryableServerErrorBuffersTheReport(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	client := mustConnect(t, server, Options{})
	r.failNext = &Error{Code: "overloaded", Status: 429, Title: "Too many reports in flight", Detail: "busy", Retryable: true}

	res, err := client.ReportUsage(map[string]float64{"rows": 1})
	if err != nil || !res.Buffered {
		t.Fatalf("want buffered, got %s, %v", describe(res), err)
	}
	if err := client.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.recorded()) != 1 {
		t.Fatalf("recorded %v", r.recorded())
	}
}

func TestInvalidReportFailsBeforeSending(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	client := mustConnect(t, server, Options{})

	_, err := client.ReportUsage(map[string]float64{"rows": -1})
	var typed *Error
	if !errors.As(err, &typed) || typed.Code != "invalid_report" || typed.Field != "dimensions.rows" {
		t.Fatalf("want invalid_report on dimensions.rows, got %#v", err)
	}
	if typed.Detail != "dimensions.rows is negative (-1); values are non-negative increments" {
		t.Fatalf("detail = %q", typed.Detail)
	}
	if len(r.recorded()) != 0 {
		t.Fatal("an invalid report reached the server")
	}
}

func TestWrongTokenIsRefusedAtConnect(t *testing.T) {
	server := startNATS(t, testToken)
	_, err := Connect(Options{ExtensionID: "oracle-cdc", Token: "ul_nope_nope", Servers: []string{server.url()}})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("want ErrUnauthorized, got %v", err)
	}
}

func TestConnectContextWithoutDeadlineConnects(t *testing.T) {
	server := startNATS(t, testToken)
	newResponder(t, server)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := ConnectContext(ctx, Options{ExtensionID: "oracle-cdc", Token: testToken,
		Servers: []string{server.url()}})
	if err != nil {
		t.Fatalf("connect with a context that has no deadline: %v", err)
	}
	defer client.Close()
	if client.State() != StateOK {
		t.Fatalf("state = %s", client.State())
	}
}

func TestEnforcementStateComesFromBucketThenBroadcast(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	r.announce("global", "", StateWarning, "units used at 92 %")
	var seen []StateChange
	got := make(chan struct{}, 8)
	client := mustConnect(t, server, Options{OnEnforcement: func(c StateChange) {
		seen = append(seen, c)
		got <- struct{}{}
	}})
	if client.State() != StateWarning || !client.Enabled() {
		t.Fatalf("state at connect = %s", client.State())
	}
	r.announce("extension", "other-ext", StateDisabled, "not ours")
	r.announce("extension", "oracle-cdc", StateDisabled, "reports dimension(s) no valid license covers: rows")
	eventually(t, "DISABLED", func() bool { return client.State() == StateDisabled })
	if client.Enabled() {
		t.Fatal("a DISABLED extension reports Enabled")
	}
	update := <-client.Updates()
	if update.State != StateWarning {
		t.Fatalf("first update = %s", describe(update))
	}
	<-got
	<-got
	if len(seen) != 2 || seen[1].Reason != "reports dimension(s) no valid license covers: rows" {
		t.Fatalf("callback saw %s", describe(seen))
	}
}

func TestFailFastRaisesExtensionDisabledForAQuarantinedReport(t *testing.T) {
	server := startNATS(t, testToken)
	newResponder(t, server)
	client := mustConnect(t, server, Options{FailFast: true})

	res, err := client.ReportUsage(map[string]float64{"rows": 1})
	if err != nil || res.ExtensionState != StateOK {
		t.Fatalf("enabled extension: %s, %v", describe(res), err)
	}
	_, err = client.ReportUsage(map[string]float64{uncoveredDimension: 1})
	var disabledErr *DisabledError
	if !errors.Is(err, ErrExtensionDisabled) || !errors.As(err, &disabledErr) || !disabledErr.Result.Quarantined() {
		t.Fatalf("want ErrExtensionDisabled, got %v", err)
	}
	if disabledErr.State != StateDisabled || disabledErr.Reason == "" {
		t.Fatalf("disabled error %s", describe(disabledErr))
	}
}

func TestWithoutFailFastAQuarantinedReportIsAResult(t *testing.T) {
	server := startNATS(t, testToken)
	newResponder(t, server)
	client := mustConnect(t, server, Options{})

	res, err := client.ReportUsage(map[string]float64{uncoveredDimension: 1})
	if err != nil || !res.Quarantined() || res.RecordID != nil || res.ExtensionState != StateDisabled {
		t.Fatalf("want a quarantined result, got %s, %v", describe(res), err)
	}
}

func TestHeartbeatIsWrittenAndRemovedOnClose(t *testing.T) {
	server := startNATS(t, testToken)
	r := newResponder(t, server)
	client := mustConnect(t, server, Options{HeartbeatInterval: 100 * time.Millisecond})
	client.SetStatus(StatusError)
	kv, err := r.js.KeyValue(context.Background(), heartbeatBucket)
	if err != nil {
		t.Fatal(err)
	}
	key := client.heartbeat.key
	var hb heartbeat
	eventually(t, "an ERROR heartbeat", func() bool {
		entry, err := kv.Get(context.Background(), key)
		if err != nil {
			return false
		}
		_ = json.Unmarshal(entry.Value(), &hb)
		return hb.Status == StatusError
	})
	if hb.SDK != "go/"+Version || hb.ExtensionID != "oracle-cdc" || hb.V != 1 || hb.PID == 0 {
		t.Fatalf("heartbeat %s", describe(hb))
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), key); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("heartbeat key still there after Close: %v", err)
	}
}
