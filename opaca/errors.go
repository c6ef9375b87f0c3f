package opaca

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrorResponse is the error body of every OPACA route (spec §3.8). Cause
// is always emitted, null when there is none.
type ErrorResponse struct {
	StatusCode int            `json:"statusCode"`
	Message    string         `json:"message"`
	Cause      *ErrorResponse `json:"cause"`
}

// Error makes an ErrorResponse usable as an error; it reports the status,
// the message and the messages of the causes.
func (e *ErrorResponse) Error() string {
	s := fmt.Sprintf("%d: %s", e.StatusCode, e.Message)
	for c, i := e.Cause, 0; c != nil && i < 16; c, i = c.Cause, i+1 {
		s += fmt.Sprintf(" (cause %d: %s)", c.StatusCode, c.Message)
	}
	return s
}

// Is matches the sentinel of the response's status code.
func (e *ErrorResponse) Is(target error) bool {
	s := SentinelFor(e.StatusCode)
	return s != nil && s == target
}

// Sentinel errors for the status codes of the protocol. errors.Is matches
// a StatusError or ErrorResponse against the sentinel of its status.
var (
	ErrBadRequest      = errors.New("opaca: bad request")            // 400
	ErrUnauthorized    = errors.New("opaca: unauthorized")           // 401
	ErrForbidden       = errors.New("opaca: forbidden")              // 403
	ErrNotFound        = errors.New("opaca: not found")              // 404
	ErrTooLarge        = errors.New("opaca: request body too large") // 413
	ErrUnprocessable   = errors.New("opaca: unprocessable document") // 422
	ErrInternal        = errors.New("opaca: internal error")         // 500
	ErrNotImplemented  = errors.New("opaca: not implemented")        // 501
	ErrBadGateway      = errors.New("opaca: bad gateway")            // 502
	ErrUnavailable     = errors.New("opaca: unavailable")            // 503
	ErrGatewayTimeout  = errors.New("opaca: gateway timeout")        // 504
	ErrInvalidArgument = fmt.Errorf("%w: invalid arguments", ErrBadRequest)
)

var sentinels = map[int]error{
	http.StatusBadRequest:            ErrBadRequest,
	http.StatusUnauthorized:          ErrUnauthorized,
	http.StatusForbidden:             ErrForbidden,
	http.StatusNotFound:              ErrNotFound,
	http.StatusRequestEntityTooLarge: ErrTooLarge,
	http.StatusUnprocessableEntity:   ErrUnprocessable,
	http.StatusInternalServerError:   ErrInternal,
	http.StatusNotImplemented:        ErrNotImplemented,
	http.StatusBadGateway:            ErrBadGateway,
	http.StatusServiceUnavailable:    ErrUnavailable,
	http.StatusGatewayTimeout:        ErrGatewayTimeout,
}

// SentinelFor returns the sentinel error of an HTTP status, or nil.
func SentinelFor(status int) error { return sentinels[status] }

// StatusError is an error carrying the HTTP status it should be answered
// with. It matches the sentinel of its status with errors.Is and unwraps
// to Err.
type StatusError struct {
	Status  int
	Message string
	Err     error
}

// NewError returns a StatusError with a formatted message.
func NewError(status int, format string, args ...any) *StatusError {
	return &StatusError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// WithStatus wraps err so that it is answered with status.
func WithStatus(status int, err error) error {
	if err == nil {
		return nil
	}
	return &StatusError{Status: status, Err: err}
}

func (e *StatusError) Error() string {
	switch {
	case e.Message != "" && e.Err != nil:
		return e.Message + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return http.StatusText(e.Status)
}

// Unwrap returns the wrapped error.
func (e *StatusError) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's status.
func (e *StatusError) Is(target error) bool {
	s := SentinelFor(e.Status)
	return s != nil && s == target
}

// HTTPStatus returns the status an error should be answered with: the
// status of the outermost StatusError or ErrorResponse, else the code of
// the first matching sentinel, else 500. nil gives 200.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var se *StatusError
	var er *ErrorResponse
	seOK := errors.As(err, &se)
	erOK := errors.As(err, &er)
	switch {
	case seOK && se.Status >= 400 && se.Status <= 599:
		return se.Status
	case erOK && er.StatusCode >= 400 && er.StatusCode <= 599:
		return er.StatusCode
	}
	for _, code := range []int{400, 401, 403, 404, 413, 422, 501, 502, 503, 504} {
		if errors.Is(err, sentinels[code]) {
			return code
		}
	}
	return http.StatusInternalServerError
}

// NewErrorResponse builds the body for an error answered with status.
// When err wraps an ErrorResponse (a downstream failure), it becomes the
// cause (spec §6.3).
func NewErrorResponse(status int, message string, err error) ErrorResponse {
	r := ErrorResponse{StatusCode: status, Message: message}
	var er *ErrorResponse
	if errors.As(err, &er) && er != nil {
		c := *er
		r.Cause = &c
	}
	return r
}

// WriteError writes an ErrorResponse with status, cause null.
func WriteError(w http.ResponseWriter, status int, message string) {
	WriteErrorResponse(w, ErrorResponse{StatusCode: status, Message: message})
}

// WriteErrorResponse writes r as the JSON body with r.StatusCode.
func WriteErrorResponse(w http.ResponseWriter, r ErrorResponse) {
	b, err := json.Marshal(r)
	if err != nil {
		b = []byte(`{"statusCode":500,"message":"error encoding failed","cause":null}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(r.StatusCode)
	_, _ = w.Write(b)
}

// WriteJSON writes v as a JSON body with status 200.
func WriteJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encoding response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// WriteText writes s as a raw-text body (spec §2.2).
func WriteText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	_, _ = w.Write([]byte(s))
}
