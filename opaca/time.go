package opaca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// TimeLayout is the runningSince format: UTC with exactly three fractional
// digits and Z (spec §2.3); Java parsers choke on other forms.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a timestamp emitted in TimeLayout and read leniently (any RFC
// 3339 form, a zone-less local date-time as UTC, or epoch milliseconds).
type Time struct{ time.Time }

// NewTime returns t truncated to milliseconds in UTC.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// Now returns the current time as a Time.
func Now() Time { return NewTime(time.Now()) }

// String returns the wire form.
func (t Time) String() string { return t.UTC().Format(TimeLayout) }

// MarshalJSON emits the wire form.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON reads a timestamp leniently.
func (t *Time) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	if len(data) > 0 && data[0] != '"' {
		ms, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return fmt.Errorf("timestamp %s: %w", data, err)
		}
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	p, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = p
	return nil
}

// ParseTime parses a timestamp leniently: RFC 3339 with any precision, or
// a date-time without zone (taken as UTC).
func ParseTime(s string) (time.Time, error) {
	if p, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return p.UTC(), nil
	}
	p, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	return p.UTC(), nil
}

// EpochMillis converts t to the Event.timestamp form.
func EpochMillis(t time.Time) int64 { return t.UnixMilli() }
