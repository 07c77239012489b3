package unitledger

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The shared vectors in sdk/conformance/vectors, replayed by every SDK.

func loadVectors[T any](t *testing.T, name string) T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "conformance", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc T
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

type requestVector struct {
	Name    string          `json:"name"`
	Request json.RawMessage `json:"request"`
	Local   bool            `json:"local"`
	Valid   bool            `json:"valid"`
	Error   *struct {
		Code   string  `json:"code"`
		Field  *string `json:"field"`
		Detail string  `json:"detail"`
	} `json:"error"`
}

func TestRequestVectors(t *testing.T) {
	doc := loadVectors[struct {
		Cases []requestVector `json:"cases"`
	}](t, "report-requests.json")
	local := 0
	for _, tc := range doc.Cases {
		if !tc.Local {
			continue
		}
		local++
		t.Run(tc.Name, func(t *testing.T) {
			var request map[string]any
			if err := json.Unmarshal(tc.Request, &request); err != nil {
				t.Fatal(err)
			}
			var opts []ReportOption
			if key, ok := request["idempotency_key"].(string); ok {
				opts = append(opts, WithIdempotencyKey(key))
			}
			if at, ok := request["occurred_at"].(string); ok {
				when, err := time.Parse(time.RFC3339, at)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, WithOccurredAt(when))
			}
			account, _ := request["account"].(string)
			dims := map[string]float64{}
			for name, v := range request["dimensions"].(map[string]any) {
				dims[name] = v.(float64)
			}
			extensionID, _ := request["extension_id"].(string)
			_, body, err := encodeReport(extensionID, account, dims, opts)
			if tc.Valid {
				if err != nil {
					t.Fatalf("refused a valid report: %v", err)
				}
				assertSameRequest(t, body, request)
				return
			}
			var typed *Error
			if !errors.As(err, &typed) {
				t.Fatalf("want an *Error, got %v", err)
			}
			if typed.Code != tc.Error.Code || typed.Detail != tc.Error.Detail || typed.Field != *tc.Error.Field {
				t.Fatalf("got %s / %s / %q\nwant %s / %s / %q", typed.Code, typed.Field, typed.Detail,
					tc.Error.Code, *tc.Error.Field, tc.Error.Detail)
			}
			if !errors.Is(err, ErrInvalidReport) || typed.Retryable {
				t.Fatalf("error %#v does not match ErrInvalidReport or is retryable", typed)
			}
		})
	}
	if local < 20 {
		t.Fatalf("only %d local request vectors", local)
	}
}

// assertSameRequest compares the encoded body with the vector's, times as instants.
func assertSameRequest(t *testing.T, body []byte, want map[string]any) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]any{got, want} {
		if at, ok := m["occurred_at"].(string); ok {
			when, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				t.Fatal(err)
			}
			m["occurred_at"] = when.UTC().Format(time.RFC3339Nano)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("encoded %s\nwant    %s", describe(got), describe(want))
	}
}

var sentinelsByCode = map[string]error{
	"invalid": ErrInvalid, "invalid_report": ErrInvalidReport, "not_found": ErrNotFound,
	"conflict": ErrConflict, "idempotency_conflict": ErrIdempotencyConflict,
	"unauthorized": ErrUnauthorized, "forbidden": ErrForbidden, "unavailable": ErrUnavailable,
	"overloaded": ErrOverloaded, "error": ErrServer,
}

func TestReplyVectors(t *testing.T) {
	doc := loadVectors[struct {
		Cases []struct {
			Name   string          `json:"name"`
			Reply  json.RawMessage `json:"reply"`
			Result *struct {
				RecordID         *int64             `json:"record_id"`
				Units            float64            `json:"units"`
				UnitsByDimension map[string]float64 `json:"units_by_dimension"`
				State            string             `json:"state"`
				ExtensionState   string             `json:"extension_state"`
				LicenseIDs       []string           `json:"license_ids"`
				Duplicate        bool               `json:"duplicate"`
				QuarantineID     *int64             `json:"quarantine_id"`
				Reason           *string            `json:"reason"`
			} `json:"result"`
			Error *struct {
				Code      string   `json:"code"`
				Is        []string `json:"is"`
				Retryable bool     `json:"retryable"`
				Field     *string  `json:"field"`
				Detail    *string  `json:"detail"`
				Status    int      `json:"status"`
			} `json:"error"`
		} `json:"cases"`
	}](t, "report-replies.json")
	for _, tc := range doc.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			res, err := decodeReply(tc.Reply)
			if want := tc.Result; want != nil {
				if err != nil {
					t.Fatal(err)
				}
				reason := ""
				if want.Reason != nil {
					reason = *want.Reason
				}
				if !reflect.DeepEqual(res.RecordID, want.RecordID) || math.Abs(res.Units-want.Units) > 1e-12 ||
					!reflect.DeepEqual(res.UnitsByDimension, want.UnitsByDimension) || res.State != want.State ||
					res.ExtensionState != want.ExtensionState || !reflect.DeepEqual(res.LicenseIDs, want.LicenseIDs) ||
					res.Duplicate != want.Duplicate || !reflect.DeepEqual(res.QuarantineID, want.QuarantineID) ||
					res.Reason != reason || res.Quarantined() != (want.QuarantineID != nil) {
					t.Fatalf("decoded %s\nwant    %s", describe(res), describe(want))
				}
				return
			}
			want := tc.Error
			var typed *Error
			if !errors.As(err, &typed) {
				t.Fatalf("want an *Error, got %v", err)
			}
			field := ""
			if want.Field != nil {
				field = *want.Field
			}
			if typed.Code != want.Code || typed.Retryable != want.Retryable || typed.Field != field ||
				typed.Status != want.Status || (want.Detail != nil && typed.Detail != *want.Detail) {
				t.Fatalf("decoded %s\nwant    %s", describe(typed), describe(want))
			}
			if retryable(err) != want.Retryable {
				t.Fatalf("retryable(err) = %v", retryable(err))
			}
			matches := map[string]bool{}
			for _, code := range want.Is {
				matches[code] = true
			}
			for code, sentinel := range sentinelsByCode {
				if errors.Is(err, sentinel) != matches[code] {
					t.Errorf("errors.Is(err, sentinel %q) = %v", code, !matches[code])
				}
			}
		})
	}
}

func TestStateChangeVectors(t *testing.T) {
	doc := loadVectors[struct {
		ExtensionID string `json:"extension_id"`
		Cases       []struct {
			Name    string            `json:"name"`
			Changes []json.RawMessage `json:"changes"`
			State   string            `json:"state"`
			Enabled bool              `json:"enabled"`
		} `json:"cases"`
	}](t, "state-changes.json")
	for _, tc := range doc.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			view := &enforcementView{extensionID: doc.ExtensionID}
			for _, raw := range tc.Changes {
				var change StateChange
				if err := json.Unmarshal(raw, &change); err != nil {
					t.Fatal(err)
				}
				view.apply(change)
			}
			if view.state() != tc.State || !disabled(view.state()) != tc.Enabled {
				t.Fatalf("state %s, want %s (enabled %v)", view.state(), tc.State, tc.Enabled)
			}
		})
	}
}

func TestHeartbeatVectors(t *testing.T) {
	doc := loadVectors[struct {
		Cases []struct {
			Name      string         `json:"name"`
			Heartbeat map[string]any `json:"heartbeat"`
			Valid     bool           `json:"valid"`
			Key       string         `json:"key"`
		} `json:"cases"`
	}](t, "heartbeats.json")
	for _, tc := range doc.Cases {
		if !tc.Valid {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.Heartbeat)
			var hb heartbeat
			if err := json.Unmarshal(raw, &hb); err != nil {
				t.Fatal(err)
			}
			encoded, _ := json.Marshal(hb)
			var got map[string]any
			_ = json.Unmarshal(encoded, &got)
			if !reflect.DeepEqual(got, tc.Heartbeat) {
				t.Fatalf("encoded %s\nwant    %s", encoded, raw)
			}
			if key := hb.ExtensionID + "." + hb.InstanceID; key != tc.Key || !instanceID.MatchString(hb.InstanceID) {
				t.Fatalf("key %s, want %s", key, tc.Key)
			}
		})
	}
}

func TestPythonNumberSpelling(t *testing.T) {
	for v, want := range map[float64]string{
		-1: "-1", -0.5: "-0.5", -1e-5: "-1e-05", -0.0001: "-0.0001", -1.5e16: "-15000000000000000",
		-1.25e16: "-12500000000000000", -1.234e-7: "-1.234e-07", math.Inf(-1): "-inf", math.NaN(): "nan",
	} {
		if got := pyNumber(v); got != want {
			t.Errorf("pyNumber(%v) = %s, want %s", v, got, want)
		}
	}
}
