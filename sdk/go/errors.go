package unitledger

import "errors"

// Error is a failure the server reported, or a report the SDK refused locally
// with the same rules (and the same message) the server applies.
//
// Compare it with the ErrXxx sentinels through [errors.Is]; the sentinels
// follow the server's error tree, so an invalid_report error also matches
// [ErrInvalid] and an overloaded error also matches [ErrUnavailable].
type Error struct {
	// Code is the stable machine-readable code, the same in every SDK.
	Code string `json:"code"`
	// Status is the HTTP status the error maps to.
	Status int `json:"status"`
	// Title is a short human summary of the category.
	Title string `json:"title"`
	// Detail says what was wrong and how to fix it.
	Detail string `json:"detail"`
	// Field names the input field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Retryable tells whether the same request may succeed later unchanged.
	Retryable bool `json:"retryable"`
}

// Error returns the server's message.
func (e *Error) Error() string {
	return e.Detail
}

// Is reports whether target is the sentinel for e's code or one of its parents.
func (e *Error) Is(target error) bool {
	sentinel, ok := target.(*Error)
	if !ok || sentinel.Status != 0 || sentinel.Detail != "" {
		return false
	}
	for code := e.Code; code != ""; code = parentCode[code] {
		if code == sentinel.Code {
			return true
		}
	}
	return false
}

// parentCode draws the error tree shared by the server and every SDK.
var parentCode = map[string]string{
	"invalid_report":       "invalid",
	"invalid_license":      "invalid",
	"idempotency_conflict": "conflict",
	"overloaded":           "unavailable",
}

func sentinel(code string) *Error { return &Error{Code: code} }

// Sentinels for the server's error codes, for use with [errors.Is].
var (
	// ErrInvalid matches every validation failure.
	ErrInvalid = sentinel("invalid")
	// ErrInvalidReport matches a usage report the server (or the SDK) refused.
	ErrInvalidReport = sentinel("invalid_report")
	// ErrNotFound matches a reference to something that does not exist.
	ErrNotFound = sentinel("not_found")
	// ErrConflict matches every conflict.
	ErrConflict = sentinel("conflict")
	// ErrIdempotencyConflict matches an idempotency key reused with another report.
	ErrIdempotencyConflict = sentinel("idempotency_conflict")
	// ErrUnauthorized matches a missing, unknown or revoked token.
	ErrUnauthorized = sentinel("unauthorized")
	// ErrForbidden matches a token that may not do what was asked.
	ErrForbidden = sentinel("forbidden")
	// ErrUnavailable matches a retryable failure of the server.
	ErrUnavailable = sentinel("unavailable")
	// ErrOverloaded matches a server with too many reports in flight.
	ErrOverloaded = sentinel("overloaded")
	// ErrServer matches an unexpected server failure.
	ErrServer = sentinel("error")
)

// Errors raised by the SDK itself.
var (
	// ErrBufferFull is returned when the server is unreachable and the offline
	// buffer already holds Options.BufferSize reports. Nothing was dropped:
	// the report was not accepted and may be sent again later.
	ErrBufferFull = errors.New("unitledger: offline buffer is full; the report was not accepted, retry once the server is reachable")
	// ErrExtensionDisabled is returned, when Options.FailFast is set, for a
	// report made while the extension is DISABLED or UNLICENSED. The report
	// was still recorded by the server (or quarantined) when it reached it.
	ErrExtensionDisabled = errors.New("unitledger: extension is disabled by license enforcement")
	// ErrClosed is returned by calls on a closed client.
	ErrClosed = errors.New("unitledger: client is closed")
)

// DisabledError is the error behind [ErrExtensionDisabled]: which state the
// extension is in, why, and what the server answered for the report.
type DisabledError struct {
	// State is DISABLED or UNLICENSED.
	State string
	// Reason is the server's explanation, e.g. which dimension no license covers.
	Reason string
	// Result is the server's answer for the report that was refused.
	Result *UsageResult
}

// Error says which state the extension is in and why.
func (e *DisabledError) Error() string {
	if e.Reason == "" {
		return "unitledger: extension is " + e.State
	}
	return "unitledger: extension is " + e.State + ": " + e.Reason
}

// Is makes errors.Is(err, ErrExtensionDisabled) true.
func (e *DisabledError) Is(target error) bool { return target == ErrExtensionDisabled }
