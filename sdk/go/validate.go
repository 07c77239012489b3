package unitledger

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The server's rules for names (docs/protocol.md §2), applied before sending
// so bad input fails at once with the code, field and message the server uses.
var (
	dimensionName  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	extensionID    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	accountName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+:/\\-]{0,127}$`)
	idempotencyKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	instanceID     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

const (
	maxDimensions = 64
	maxValue      = 1e15
)

func invalidReport(field, format string, args ...any) *Error {
	return &Error{Code: "invalid_report", Status: 400, Title: "Invalid usage report",
		Detail: fmt.Sprintf(format, args...), Field: field}
}

func checkExtensionID(id string) error {
	if !extensionID.MatchString(id) {
		return invalidReport("extension_id",
			"extension_id %s is invalid: use 1-64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit",
			pyRepr(id))
	}
	return nil
}

func checkAccount(account string) error {
	if !accountName.MatchString(account) {
		return invalidReport("account",
			"account %s is invalid: use 1-128 printable ASCII characters (letters, digits and . _ @ + : / -), starting with a letter or digit",
			pyRepr(account))
	}
	return nil
}

func checkIdempotencyKey(key string) error {
	if !idempotencyKey.MatchString(key) {
		return invalidReport("idempotency_key",
			"idempotency_key must be 1-128 characters from A-Z a-z 0-9 . _ : -")
	}
	return nil
}

// checkDimensions applies the server's checks in the order the server sees the
// names: JSON encoding sorts map keys, so the first fault is the same.
func checkDimensions(dims map[string]float64) error {
	if len(dims) == 0 {
		return invalidReport("dimensions", "dimensions is empty: report at least one dimension")
	}
	if len(dims) > maxDimensions {
		return invalidReport("dimensions", "too many dimensions (%d); at most %d per report", len(dims), maxDimensions)
	}
	names := make([]string, 0, len(dims))
	for name := range dims {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		where := "dimensions"
		if utf8.RuneCountInString(name) <= 64 {
			where = "dimensions." + name
		}
		if !dimensionName.MatchString(name) {
			return invalidReport(where,
				"dimension name %s is invalid: names match [a-z][a-z0-9_]{0,63} (lower-case letter first, then letters, digits or underscores)",
				pyRepr(name))
		}
		value := dims[name]
		switch {
		case math.IsNaN(value) || math.IsInf(value, 0):
			return invalidReport(where, "%s must be a finite number, got %s", where, pyNumber(value))
		case value < 0:
			return invalidReport(where, "%s is negative (%s); values are non-negative increments", where, pyNumber(value))
		case value > maxValue:
			return invalidReport(where, "%s is too large (at most 1e+15)", where)
		}
	}
	return nil
}

// pyNumber spells a number as the server does after reading the JSON this SDK
// sends: integral values travel as JSON integers, the rest as floats.
func pyNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e21:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	// Python's float repr: shortest digits, exponent form below 1e-4 and from 1e16.
	exp := int(math.Floor(math.Log10(math.Abs(v))))
	if exp < -4 || exp >= 16 {
		s := strconv.FormatFloat(v, 'e', -1, 64)
		mantissa, e, _ := strings.Cut(s, "e")
		n, _ := strconv.Atoi(e)
		sign := "+"
		if n < 0 {
			sign, n = "-", -n
		}
		return fmt.Sprintf("%se%s%02d", mantissa, sign, n)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// pyRepr quotes a string the way the server's messages do.
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0x7f && !unicode.IsPrint(r):
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
