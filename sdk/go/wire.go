package unitledger

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Subjects, buckets and keys of protocol version 1 (docs/protocol.md).
const (
	reportSubjectPrefix = "unitledger.v1.report."
	globalSubject       = "unitledger.v1.enforcement.global"
	extSubjectPrefix    = "unitledger.v1.enforcement.ext."
	enforcementBucket   = "unitledger_enforcement"
	heartbeatBucket     = "unitledger_heartbeats"
	globalKey           = "global"
	extKeyPrefix        = "ext."
	timeLayout          = "2006-01-02T15:04:05.000000Z"
)

// Enforcement states.
const (
	StateOK         = "OK"
	StateWarning    = "WARNING"
	StateUnlicensed = "UNLICENSED"
	StateDisabled   = "DISABLED"
)

// Heartbeat statuses an extension reports about itself.
type Status string

// The statuses a heartbeat may carry.
const (
	StatusOK      Status = "OK"
	StatusWarning Status = "WARNING"
	StatusError   Status = "ERROR"
)

// reportRequest is the request body of unitledger.v1.report.<extension_id>.
type reportRequest struct {
	ExtensionID    string             `json:"extension_id"`
	Account        string             `json:"account,omitempty"`
	Dimensions     map[string]float64 `json:"dimensions"`
	IdempotencyKey string             `json:"idempotency_key"`
	OccurredAt     string             `json:"occurred_at,omitempty"`
}

// UsageResult is the server's answer to one report.
type UsageResult struct {
	// RecordID identifies the usage record; nil when the report was
	// quarantined or is still in the offline buffer.
	RecordID *int64 `json:"record_id"`
	// Units is the total units charged for the report.
	Units float64 `json:"units"`
	// UnitsByDimension splits Units by dimension.
	UnitsByDimension map[string]float64 `json:"units_by_dimension"`
	// State is the global enforcement state after the report.
	State string `json:"state"`
	// ExtensionState is this extension's enforcement state after the report.
	ExtensionState string `json:"extension_state"`
	// LicenseIDs lists the licenses the units were charged to.
	LicenseIDs []string `json:"license_ids"`
	// Duplicate is true when the server had already recorded this report
	// (same idempotency key) and answered with the first outcome.
	Duplicate bool `json:"duplicate"`
	// QuarantineID is set when the report named a dimension no license
	// covers: it was kept in quarantine and not counted.
	QuarantineID *int64 `json:"quarantine_id,omitempty"`
	// Reason says why the report was quarantined.
	Reason string `json:"reason,omitempty"`
	// Buffered is true when the server was unreachable and the report waits
	// in the offline buffer; it will be sent, once, when the server is back.
	Buffered bool `json:"-"`
	// IdempotencyKey is the key the report was (or will be) sent with.
	IdempotencyKey string `json:"-"`
}

// Quarantined reports whether the server kept the report in quarantine.
func (r *UsageResult) Quarantined() bool { return r.QuarantineID != nil }

// reportReply is the reply envelope.
type reportReply struct {
	OK     bool         `json:"ok"`
	Result *UsageResult `json:"result"`
	Error  *Error       `json:"error"`
}

// decodeReply turns a reply body into a result or an *Error.
func decodeReply(data []byte) (*UsageResult, error) {
	var reply reportReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, &Error{Code: "error", Status: 502, Title: "Invalid reply",
			Detail: fmt.Sprintf("the server sent a reply that is not valid JSON: %v", err)}
	}
	if reply.OK && reply.Result != nil {
		return reply.Result, nil
	}
	if !reply.OK && reply.Error != nil && reply.Error.Code != "" {
		return nil, reply.Error
	}
	return nil, &Error{Code: "error", Status: 502, Title: "Invalid reply",
		Detail: "the server sent a reply with neither a result nor an error"}
}

// StateChange is one enforcement update, as broadcast and as kept in the
// enforcement key-value bucket.
type StateChange struct {
	V                   int      `json:"v"`
	Scope               string   `json:"scope"`
	ExtensionID         *string  `json:"extension_id"`
	State               string   `json:"state"`
	PreviousState       *string  `json:"previous_state"`
	Reason              string   `json:"reason"`
	UncoveredDimensions []string `json:"uncovered_dimensions"`
	ChangedAt           string   `json:"changed_at"`
	Seq                 int64    `json:"seq"`
}

// heartbeat is the value written under <extension_id>.<instance_id>.
type heartbeat struct {
	V            int     `json:"v"`
	ExtensionID  string  `json:"extension_id"`
	InstanceID   string  `json:"instance_id"`
	Status       Status  `json:"status"`
	SDK          string  `json:"sdk"`
	Host         string  `json:"host"`
	PID          int     `json:"pid"`
	LastReportAt *string `json:"last_report_at"`
	At           string  `json:"at"`
}

// Version is this SDK's version, sent in heartbeats as "go/<Version>".
const Version = "0.1.0"

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

func randomHex(bytes int) string {
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("unitledger: no randomness for an id: %v", err))
	}
	return hex.EncodeToString(b)
}

// newIdempotencyKey returns 32 hex digits, as every SDK does.
func newIdempotencyKey() string { return randomHex(16) }
