//go:build live

// The live conformance scenario (sdk/conformance/scenario.md) against a real
// server started by sdk/conformance/harness.py:
//
//	python sdk/conformance/harness.py run --extension-id conformance-go -- go test -tags live ./...
package unitledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

type liveEnv struct {
	t           *testing.T
	extensionID string
	httpURL     string
	adminToken  string
	controlURL  string
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	env := &liveEnv{t: t}
	for name, dst := range map[string]*string{
		"UNITLEDGER_TEST_EXTENSION_ID": &env.extensionID,
		"UNITLEDGER_TEST_HTTP_URL":     &env.httpURL,
		"UNITLEDGER_TEST_ADMIN_TOKEN":  &env.adminToken,
		"UNITLEDGER_TEST_CONTROL_URL":  &env.controlURL,
	} {
		*dst = os.Getenv(name)
		if *dst == "" {
			t.Fatalf("%s is not set: run the live tests through sdk/conformance/harness.py", name)
		}
	}
	return env
}

// api calls the HTTP API with the admin token; status is returned with the body.
func (e *liveEnv) api(method, path string, body any, out any) int {
	e.t.Helper()
	var reader io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		reader = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, e.httpURL+path, reader)
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.t.Fatalf("%s %s: unreadable body: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func (e *liveEnv) control(action string, body any) {
	e.t.Helper()
	data, _ := json.Marshal(body)
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Post(e.controlURL+"/"+action, "application/json", bytes.NewReader(data))
	if err != nil {
		e.t.Fatalf("control %s: %v", action, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		text, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("control %s: %d %s", action, resp.StatusCode, text)
	}
}

type liveRecord struct {
	RecordID       int64   `json:"record_id"`
	ExtensionID    string  `json:"extension_id"`
	IdempotencyKey string  `json:"idempotency_key"`
	Units          float64 `json:"units"`
}

func (e *liveEnv) records() []liveRecord {
	e.t.Helper()
	var page struct {
		Items []liveRecord `json:"items"`
	}
	e.api("GET", "/usage/records?limit=1000&extension_id="+url.QueryEscape(e.extensionID), nil, &page)
	return page.Items
}

// problem is what the server answers over HTTP to the same body.
func (e *liveEnv) problem(body map[string]any) Error {
	e.t.Helper()
	var p Error
	if status := e.api("POST", "/usage", body, &p); status != 400 {
		e.t.Fatalf("POST /usage %v answered %d, want 400", body, status)
	}
	return p
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

const refusedTokenDetail = "the server refused the token: use an extension token that exists and is not revoked (unitledger token create --role extension)"

// Step 0: a refused token and an unreachable server, in the same words as every SDK.
func TestLiveConnectRefusals(t *testing.T) {
	env := newLiveEnv(t)
	var typed *Error
	_, err := Connect(Options{ExtensionID: env.extensionID, Token: "ul_000000000000_refused"})
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &typed) || typed.Code != "unauthorized" ||
		typed.Detail != refusedTokenDetail {
		t.Fatalf("refused token: %#v", err)
	}
	t.Setenv("UNITLEDGER_TOKEN", "")
	_, err = Connect(Options{ExtensionID: env.extensionID})
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &typed) ||
		typed.Detail != "no token: pass a token or set UNITLEDGER_TOKEN to an extension token" {
		t.Fatalf("missing token: %#v", err)
	}
	started := time.Now()
	_, err = Connect(Options{ExtensionID: env.extensionID, Token: "ul_000000000000_refused",
		Servers: []string{"nats://127.0.0.1:1"}})
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &typed) || typed.Code != "unavailable" ||
		typed.Detail != "cannot connect to unitledger over NATS at nats://127.0.0.1:1" {
		t.Fatalf("unreachable server: %#v", err)
	}
	if time.Since(started) > 5*time.Second {
		t.Fatalf("unreachable server took %v to report", time.Since(started))
	}
}

func TestLiveConformanceScenario(t *testing.T) {
	env := newLiveEnv(t)
	var mu sync.Mutex
	var updates []StateChange
	// Step 1: connect with the token and URL from the environment.
	client, err := Connect(Options{ExtensionID: env.extensionID, Name: "conformance (Go)",
		RequestTimeout: 2 * time.Second,
		OnEnforcement: func(c StateChange) {
			mu.Lock()
			updates = append(updates, c)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Close()
	if client.State() != StateOK || !client.Enabled() {
		t.Fatalf("state at connect = %s", client.State())
	}
	sawUpdate := func(state string, want bool) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, u := range updates {
				if u.Scope == "extension" && (u.State == state) == want {
					return true
				}
			}
			return false
		}
	}

	t.Run("report and check units", func(t *testing.T) {
		res, err := client.ReportUsage(map[string]float64{"tables_replicated": 5, "bytes_transferred_gb": 1.5})
		if err != nil {
			t.Fatal(err)
		}
		if !near(res.Units, 5.75) || !near(res.UnitsByDimension["tables_replicated"], 5) ||
			!near(res.UnitsByDimension["bytes_transferred_gb"], 0.75) || res.RecordID == nil ||
			res.State != StateOK || res.ExtensionState != StateOK || len(res.LicenseIDs) != 1 ||
			res.Duplicate || res.Buffered {
			t.Fatalf("result %s", describe(res))
		}
		var record liveRecord
		env.api("GET", fmt.Sprintf("/usage/records/%d", *res.RecordID), nil, &record)
		if !near(record.Units, 5.75) || record.ExtensionID != env.extensionID {
			t.Fatalf("record over HTTP %s", describe(record))
		}
	})

	t.Run("retry counted once", func(t *testing.T) {
		key := "conformance-go-" + newIdempotencyKey()
		first, err := client.ReportUsage(map[string]float64{"tables_replicated": 2}, WithIdempotencyKey(key))
		if err != nil {
			t.Fatal(err)
		}
		again, err := client.ReportUsage(map[string]float64{"tables_replicated": 2}, WithIdempotencyKey(key))
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || again.RecordID == nil || *again.RecordID != *first.RecordID || !near(again.Units, 2) {
			t.Fatalf("retry answered %s after %s", describe(again), describe(first))
		}
		records := env.records()
		total := 0.0
		for _, r := range records {
			total += r.Units
		}
		if len(records) != 2 || !near(total, 7.75) {
			t.Fatalf("records over HTTP %s", describe(records))
		}
	})

	t.Run("invalid input is a typed error with the server's message", func(t *testing.T) {
		_, err := client.ReportUsage(map[string]float64{"rows": -1})
		var typed *Error
		if !errors.Is(err, ErrInvalidReport) || !errors.As(err, &typed) || typed.Field != "dimensions.rows" {
			t.Fatalf("negative value: %#v", err)
		}
		server := env.problem(map[string]any{"extension_id": env.extensionID, "dimensions": map[string]any{"rows": -1}})
		if typed.Detail != server.Detail || typed.Code != server.Code {
			t.Fatalf("SDK says %q, server says %q", typed.Detail, server.Detail)
		}

		old := time.Now().Add(-30 * 24 * time.Hour)
		_, err = client.ReportUsage(map[string]float64{"tables_replicated": 1}, WithOccurredAt(old))
		if !errors.Is(err, ErrInvalidReport) || !errors.As(err, &typed) || typed.Field != "occurred_at" {
			t.Fatalf("old report: %#v", err)
		}
		server = env.problem(map[string]any{"extension_id": env.extensionID,
			"dimensions": map[string]any{"tables_replicated": 1}, "occurred_at": stamp(old)})
		if typed.Detail != server.Detail {
			t.Fatalf("SDK says %q, server says %q", typed.Detail, server.Detail)
		}
		if n := len(env.records()); n != 2 {
			t.Fatalf("%d records after refused reports, want 2", n)
		}
	})

	t.Run("uncovered dimension disables the extension and is quarantined", func(t *testing.T) {
		res, err := client.ReportUsage(map[string]float64{"rows_scanned": 10})
		if err != nil {
			t.Fatal(err)
		}
		if res.RecordID != nil || res.Units != 0 || res.ExtensionState != StateDisabled || !res.Quarantined() {
			t.Fatalf("result %s", describe(res))
		}
		eventually(t, "DISABLED", func() bool { return client.State() == StateDisabled && !client.Enabled() })
		eventually(t, "a DISABLED update", sawUpdate(StateDisabled, true))
		var held []struct {
			QuarantineID int64 `json:"quarantine_id"`
		}
		env.api("GET", "/quarantine?extension_id="+url.QueryEscape(env.extensionID), nil, &held)
		if len(held) != 1 || held[0].QuarantineID != *res.QuarantineID {
			t.Fatalf("quarantine over HTTP %s, result %s", describe(held), describe(res))
		}
	})

	t.Run("a license change arrives as an enforcement update", func(t *testing.T) {
		mu.Lock()
		updates = nil
		mu.Unlock()
		env.control("license", map[string]any{"rates": map[string]any{"*": map[string]any{"rows_scanned": 0.01}}})
		eventually(t, "an enabling update", sawUpdate(StateDisabled, false))
		eventually(t, "enabled", client.Enabled)
		res, err := client.ReportUsage(map[string]float64{"rows_scanned": 100})
		if err != nil || !near(res.Units, 1) || res.RecordID == nil {
			t.Fatalf("covered report: %s, %v", describe(res), err)
		}
	})

	t.Run("reports during an outage are replayed exactly once", func(t *testing.T) {
		before := len(env.records())
		env.control("stop", nil)
		keys := map[string]bool{}
		for i := 0; i < 5; i++ {
			started := time.Now()
			res, err := client.ReportUsage(map[string]float64{"tables_replicated": 1})
			if err != nil || !res.Buffered {
				t.Fatalf("report %d during the outage: %s, %v", i, describe(res), err)
			}
			if time.Since(started) > 3*time.Second {
				t.Fatalf("report %d took %v", i, time.Since(started))
			}
			keys[res.IdempotencyKey] = true
		}
		env.control("start", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		records := env.records()
		replayed := 0
		for _, r := range records {
			if keys[r.IdempotencyKey] {
				replayed++
			}
		}
		if len(records) != before+5 || replayed != 5 {
			t.Fatalf("%d records (was %d), %d of the buffered keys", len(records), before, replayed)
		}
	})

	if err := client.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
