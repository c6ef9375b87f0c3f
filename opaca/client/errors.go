package client

import (
	"errors"
	"fmt"

	"github.com/meshkit/meshkit/opaca"
)

// Sentinel errors. A *StatusError matches ErrStatus, a *TransportError
// matches ErrTransport.
var (
	ErrStatus    = errors.New("opaca client: error status")
	ErrTransport = errors.New("opaca client: transport failure")
	ErrClosed    = errors.New("opaca client: closed")
	// ErrInvalidOption is returned by the constructors for bad options.
	ErrInvalidOption = errors.New("opaca client: invalid option")
)

// maxErrorBody bounds how much of an error body is kept.
const maxErrorBody = 64 << 10

// StatusError is an answer with status ≥ 400.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	// Response is the parsed ErrorResponse, nil when the body was not one
	// (Python containers answer FastAPI bodies, reference platforms Spring
	// error JSON or plain text).
	Response *opaca.ErrorResponse
	// Body is the raw body, at most 64 KiB.
	Body []byte
}

func (e *StatusError) Error() string {
	msg := ""
	if e.Response != nil {
		msg = e.Response.Message
	} else if len(e.Body) > 0 {
		msg = string(e.Body)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
	}
	return fmt.Sprintf("opaca client: %s %s: status %d: %s", e.Method, e.URL, e.StatusCode, msg)
}

// Is makes errors.Is(err, ErrStatus) true.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// NewStatusError builds the error of an answer with status ≥ 400 from its
// raw body (used by callers that obtain answers without this client, such
// as the platform's in-memory calls to in-process containers).
func NewStatusError(method, url string, status int, body []byte) *StatusError {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	return &StatusError{Method: method, URL: url, StatusCode: status, Body: body, Response: parseErrorResponse(body)}
}

// AsErrorResponse returns the error as the platform would relay it (§6.3):
// the parsed ErrorResponse, or one built from the status and raw body.
func (e *StatusError) AsErrorResponse() opaca.ErrorResponse {
	if e.Response != nil {
		return *e.Response
	}
	return opaca.ErrorResponse{StatusCode: e.StatusCode, Message: string(e.Body)}
}

// TransportError is a call that got no HTTP answer (dial, reset, timeout,
// cancelled context).
type TransportError struct {
	Method string
	URL    string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("opaca client: %s %s: %v", e.Method, e.URL, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTransport) true.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }

// StatusCode returns the HTTP status of a *StatusError in err's chain, or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// Causes walks an ErrorResponse's cause chain, outermost first.
func Causes(r *opaca.ErrorResponse) []opaca.ErrorResponse {
	var out []opaca.ErrorResponse
	for c := r; c != nil && len(out) < 64; c = c.Cause {
		out = append(out, *c)
	}
	return out
}

// RootCause returns the innermost ErrorResponse of the chain.
func RootCause(r *opaca.ErrorResponse) *opaca.ErrorResponse {
	for i := 0; r != nil && r.Cause != nil && i < 64; i++ {
		r = r.Cause
	}
	return r
}
