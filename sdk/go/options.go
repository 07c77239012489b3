package unitledger

import (
	"log/slog"
	"os"
	"strings"
	"time"
)

// Options configure a [Client]. Only ExtensionID is required; everything
// else has a default that works against `unitledger serve` on this machine.
type Options struct {
	// ExtensionID is the stable id the extension reports as, e.g. "oracle-cdc".
	ExtensionID string
	// Name is a human name for the connection, shown in NATS monitoring.
	// Defaults to ExtensionID.
	Name string
	// Token is the extension token; defaults to $UNITLEDGER_TOKEN.
	Token string
	// Servers are NATS URLs; default $UNITLEDGER_NATS_URL (comma-separated)
	// or nats://127.0.0.1:4222.
	Servers []string
	// Account is the default account reports are made on behalf of; a
	// report may name another with [WithAccount]. Empty means the server's
	// default ("unknown").
	Account string
	// RequestTimeout bounds one attempt to deliver a report (default 5 s);
	// a report not answered in time is buffered and retried.
	RequestTimeout time.Duration
	// BufferSize bounds the offline buffer (default 10,000 reports).
	BufferSize int
	// HeartbeatInterval overrides the heartbeat period; by default it is
	// half the TTL of the server's heartbeat bucket (30 s with its default).
	HeartbeatInterval time.Duration
	// FailFast makes a report answered while the extension is DISABLED or
	// UNLICENSED return an error matching [ErrExtensionDisabled].
	FailFast bool
	// OnEnforcement, when set, is called (from one goroutine, in order) with
	// every enforcement update that changes what the client knows.
	OnEnforcement func(StateChange)
	// OnReplay, when set, is called with the outcome of each buffered report
	// once it has been replayed (err is non-nil when the server refused it).
	OnReplay func(key string, result *UsageResult, err error)
	// Logger receives connection events; default discards them.
	Logger *slog.Logger
}

// withDefaults fills the documented defaults in a copy of o.
func (o Options) withDefaults() Options {
	if o.Token == "" {
		o.Token = os.Getenv("UNITLEDGER_TOKEN")
	}
	if len(o.Servers) == 0 {
		if env := os.Getenv("UNITLEDGER_NATS_URL"); env != "" {
			o.Servers = strings.Split(env, ",")
		} else {
			o.Servers = []string{"nats://127.0.0.1:4222"}
		}
	}
	if o.Name == "" {
		o.Name = o.ExtensionID
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 10_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ReportOption adjusts one report.
type ReportOption func(*reportRequest)

// WithAccount reports on behalf of account instead of Options.Account.
func WithAccount(account string) ReportOption {
	return func(r *reportRequest) { r.Account = account }
}

// WithIdempotencyKey sends the report with a key of the caller's choosing,
// for callers that retry across process restarts themselves. A report sent
// twice with the same key and content is counted once.
func WithIdempotencyKey(key string) ReportOption {
	return func(r *reportRequest) { r.IdempotencyKey = key }
}

// WithOccurredAt dates the work at t instead of when the server receives the report.
func WithOccurredAt(t time.Time) ReportOption {
	return func(r *reportRequest) { r.OccurredAt = stamp(t) }
}
